package ent

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"atrium/ent/uai"
	"atrium/record"
)

// Proposals of modification ("proposer une modification"): how a lycée
// corrects the region's content, which only Région staff edit, at central.
// Its rules:
//
//   - A lycée's teacher or staff member (Personnel, administrators
//     included; never a student or a relative) proposes new content for a
//     region record: an item of the region's catalogue (the whole item as
//     catalogue.update takes it; its file stays as it is) or a region news
//     item (title and text). The proposal ("draft.propose") is a record of
//     kind KindRegionDraft in the author's lycée partition, so an edge cut
//     off from central accepts it at once and sends it with its outbox like
//     any other command; central executes it again by the same rules. It
//     names the region record and the version of it the author saw.
//   - Région staff, at central only, apply a pending proposal
//     ("draft.apply": the region record gets its content through the rules
//     of catalogue.update or news.update) or discard it ("draft.discard",
//     with an optional reason). Either way the proposal leaves the pending
//     state for good, and its author gets a notice (record.Notice, op
//     draft.apply or draft.discard, listed at /avis with the refusals) in
//     the lycée's partition, written in the same transaction.
//   - Applying still works when the region record changed after the
//     version the author saw: DraftReview.Changed says so, and the page
//     shows it to Région staff before they apply; nothing is merged
//     silently. A record retired since cannot be amended.
//   - Commands are idempotent by the proposal's id: a retransmitted
//     proposal, or a decision taken again, is a no-op.
//
// Région staff list the pending proposals of every lycée by scanning each
// lycée partition's proposals (ServiceConfig.Partitions): a kind index
// per partition, read at central only.

// States of a proposal.
const (
	DraftPending   = "pending"
	DraftApplied   = "applied"
	DraftDiscarded = "discarded"
)

// DraftStateLabel returns the French name of a proposal's state.
func DraftStateLabel(state string) string {
	switch state {
	case DraftPending:
		return "En attente d'examen par la Région"
	case DraftApplied:
		return "Appliquée"
	case DraftDiscarded:
		return "Non retenue"
	}
	return state
}

// DraftNews is the proposed content of a region news item.
type DraftNews struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// DraftArgs are the arguments of "draft.propose". Exactly one of
// Catalogue (for Kind KindCatalogueItem; its ID is ignored, and with
// neither file nor link the item keeps its own) and News (KindNews) is
// set.
type DraftArgs struct {
	ID        string         `json:"id"`     // the proposal's id, minted by the Service
	Target    string         `json:"target"` // the region record's id
	Kind      string         `json:"kind"`   // its kind
	Seen      uint64         `json:"seen"`   // the version (Version.Central) of it the author saw
	Catalogue *CatalogueArgs `json:"catalogue,omitempty"`
	News      *DraftNews     `json:"news,omitempty"`
}

// DraftDecisionArgs are the arguments of "draft.apply" and
// "draft.discard"; the partition is the proposal's lycée.
type DraftDecisionArgs struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"` // discard only; optional
}

// Draft is a proposal of modification as the pages show it.
type Draft struct {
	ID        string
	Partition string // the author's lycée
	Target    string // the region record's id
	Kind      string // KindCatalogueItem or KindNews
	Seen      uint64 // the version of the region record the author saw
	// Title is the region record's title when the proposal was made, by
	// which its author and the notices name it.
	Title     string
	Catalogue *CatalogueArgs // the proposed item (Kind KindCatalogueItem)
	News      *DraftNews     // the proposed news (Kind KindNews)
	AuthorID  string
	Author    string
	Proposed  time.Time
	State     string
	Reason    string // why it was discarded, "" for no reason given
	DecidedBy string // name of the Région agent who decided
	Decided   time.Time
}

// ProposedTitle is the title the proposal gives the record.
func (d Draft) ProposedTitle() string {
	switch {
	case d.Catalogue != nil:
		return d.Catalogue.Title
	case d.News != nil:
		return d.News.Title
	}
	return d.Title
}

// StateLabel is the French name of the proposal's state.
func (d Draft) StateLabel() string { return DraftStateLabel(d.State) }

// Pending reports whether Région staff have yet to decide.
func (d Draft) Pending() bool { return d.State == DraftPending }

// TargetPath is the portal path of the region record.
func (d Draft) TargetPath() string {
	if d.Kind == KindNews {
		return "/actualites/" + d.Target
	}
	return "/ressources/" + d.Target
}

// KindLabel names in French what the proposal amends.
func (d Draft) KindLabel() string {
	if d.Kind == KindNews {
		return "Actualité de la Région"
	}
	return "Ressource du catalogue régional"
}

// DraftBase is a region record as a proposal starts from it: its content
// and its version.
type DraftBase struct {
	Kind      string
	ID        string
	Version   uint64 // Version.Central
	Title     string
	Catalogue *CatalogueItem // Kind KindCatalogueItem
	News      *News          // Kind KindNews
}

// DraftReview is a proposal as Région staff examine it: the region
// record as it is now beside the proposal.
type DraftReview struct {
	Draft
	LyceeName string
	Current   DraftBase
	// Retired is set when the region record is gone: the proposal can
	// only be discarded.
	Retired bool
	// Changed is set when the region record changed after the version the
	// author saw: applying replaces those changes too.
	Changed bool
}

// draftBody is the stored document; times are unix ms from the commands.
type draftBody struct {
	Target    string         `json:"target"`
	Kind      string         `json:"kind"`
	Seen      uint64         `json:"seen"`
	Title     string         `json:"title"`
	Catalogue *CatalogueArgs `json:"catalogue,omitempty"`
	News      *DraftNews     `json:"news,omitempty"`
	AuthorID  string         `json:"authorId"`
	Author    string         `json:"author"`
	Proposed  int64          `json:"proposed"`
	State     string         `json:"state"`
	Reason    string         `json:"reason,omitempty"`
	DecidedBy string         `json:"decidedBy,omitempty"`
	Decided   int64          `json:"decided,omitempty"`
}

const (
	maxDraftReason = 1000

	draftProposeRule = "Seuls les enseignants et les personnels d'un lycée proposent une modification des contenus de la Région."
	draftDecideRule  = "Seuls les agents de la Région, au serveur régional, examinent les propositions de modification."
	draftNotFound    = "Proposition introuvable."
	draftTargetGone  = "Ce contenu de la Région n'existe plus : il a été retiré."
)

// CanProposeDraft reports whether u proposes modifications of the
// region's content: a lycée's teacher or staff member.
func CanProposeDraft(u User) bool {
	return u.UAI != "" && (u.Profile == Teacher || u.Profile == Personnel)
}

// CanReviewDrafts reports whether u applies and discards proposals.
func CanReviewDrafts(u User) bool { return u.Profile == Region }

// regionBase reads the live region record id of kind as a proposal's base.
func regionBase(r record.Reader, kind, id string) (DraftBase, bool, error) {
	if kind != KindCatalogueItem && kind != KindNews {
		return DraftBase{}, false, nil
	}
	rec, ok, err := r.Get(record.Region, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != kind {
		return DraftBase{}, false, err
	}
	b := DraftBase{Kind: kind, ID: id, Version: rec.Version.Central}
	if kind == KindNews {
		n, err := decodeNews(rec)
		if err != nil {
			return DraftBase{}, false, err
		}
		b.News, b.Title = &n, n.Title
		return b, true, nil
	}
	it, err := decodeCatalogue(rec)
	if err != nil {
		return DraftBase{}, false, err
	}
	b.Catalogue, b.Title = &it, it.Title
	return b, true, nil
}

// draftContent checks and trims the proposed content of a against base,
// the region record: a catalogue item is checked as catalogue.update
// checks it (with its own file or link kept when a gives neither; a
// proposal never brings a file), news as news.publish checks it.
func draftContent(a DraftArgs, base DraftBase) (DraftArgs, error) {
	switch a.Kind {
	case KindCatalogueItem:
		if a.Catalogue == nil || a.News != nil {
			return a, rejectInvalid("Commande mal formée.")
		}
		c := trimCatalogue(*a.Catalogue)
		c.ID = a.Target
		if c.File != nil {
			return a, rejectInvalid("Une proposition ne joint pas de fichier : indiquez un lien, ou laissez la ressource telle quelle.")
		}
		if err := checkCatalogue(withOwnFile(c, base), record.Region); err != nil {
			return a, err
		}
		a.Catalogue = &c
	case KindNews:
		if a.News == nil || a.Catalogue != nil {
			return a, rejectInvalid("Commande mal formée.")
		}
		n := DraftNews{Title: strings.TrimSpace(a.News.Title), Body: strings.TrimSpace(a.News.Body)}
		if !text(n.Title, maxTitle) || !text(n.Body, maxBody) {
			return a, rejectInvalid("Le titre et le texte de l'actualité sont obligatoires.")
		}
		a.News = &n
	default:
		return a, rejectInvalid("Commande mal formée.")
	}
	return a, nil
}

// withOwnFile gives c the file or link of the region item when c names
// neither: the item keeps its own.
func withOwnFile(c CatalogueArgs, base DraftBase) CatalogueArgs {
	if c.File == nil && c.Link == "" && base.Catalogue != nil {
		c.File, c.Link = base.Catalogue.File, base.Catalogue.Link
	}
	return c
}

func execDraftPropose(tx record.Tx, cmd record.Command) error {
	var a DraftArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.Target) || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if !uai.Valid(cmd.Partition) {
		return rejectForbidden(draftProposeRule)
	}
	if dup, err := existing(tx, cmd.Partition, a.ID, KindRegionDraft); err != nil || dup {
		return err // a retransmission, or a proposal decided since: a no-op
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanProposeDraft(author) || author.UAI != cmd.Partition {
		return rejectForbidden(draftProposeRule)
	}
	base, ok, err := regionBase(tx, a.Kind, a.Target)
	if err != nil {
		return err
	}
	if !ok {
		return record.Reject("not_found", draftTargetGone)
	}
	if a, err = draftContent(a, base); err != nil {
		return err
	}
	seen := a.Seen
	if seen == 0 || seen > base.Version {
		seen = base.Version // a version this node never saw: the one it holds
	}
	return putDraft(tx, cmd.Partition, a.ID, draftBody{Target: a.Target, Kind: a.Kind, Seen: seen, Title: base.Title,
		Catalogue: a.Catalogue, News: a.News, AuthorID: author.ID, Author: author.Name, Proposed: cmd.Time, State: DraftPending})
}

func putDraft(tx record.Tx, partition, id string, b draftBody) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: id, Kind: KindRegionDraft, Body: body})
}

// decision is what "draft.apply" and "draft.discard" act on.
type decision struct {
	agent User // the acting Région agent
	args  DraftDecisionArgs
	draft draftBody
	// done is set when the proposal is already in the state the command
	// asks for: a decision taken again, a no-op.
	done bool
}

// draftDecision checks a decision on a proposal: its command, its author
// (a Région agent, at central) and the proposal's state.
func draftDecision(tx record.Tx, cmd record.Command, want string) (decision, error) {
	var d decision
	if err := decodeArgs(cmd, &d.args); err != nil {
		return d, err
	}
	if !validID(d.args.ID) || !uai.Valid(cmd.Partition) || cmd.Time <= 0 {
		return d, rejectInvalid("Commande mal formée.")
	}
	agent, ok, err := activeUser(tx, record.Region, cmd.User)
	if err != nil {
		return d, err
	}
	// Never from an edge: an appliance (stolen or not) must not write the
	// region's content under a Région agent's name.
	if !ok || agent.Profile != Region || cmd.Origin != record.OriginCentral {
		return d, rejectForbidden(draftDecideRule)
	}
	d.agent = agent
	rec, ok, err := tx.Get(cmd.Partition, d.args.ID)
	if err != nil {
		return d, err
	}
	if !ok || rec.Deleted || rec.Kind != KindRegionDraft {
		return d, record.Reject("not_found", draftNotFound)
	}
	if err := json.Unmarshal(rec.Body, &d.draft); err != nil {
		return d, fmt.Errorf("decode draft %s: %w", rec.ID, err)
	}
	switch d.draft.State {
	case DraftPending:
	case want:
		d.done = true
	case DraftApplied:
		return d, record.Reject("conflict", "Cette proposition a déjà été appliquée.")
	default:
		return d, record.Reject("conflict", "Cette proposition a déjà été écartée.")
	}
	return d, nil
}

func execDraftApply(tx record.Tx, cmd record.Command) error {
	d, err := draftDecision(tx, cmd, DraftApplied)
	if err != nil || d.done {
		return err
	}
	b := d.draft
	base, ok, err := regionBase(tx, b.Kind, b.Target)
	if err != nil {
		return err
	}
	if !ok {
		return record.Reject("not_found", draftTargetGone+" Écartez la proposition.")
	}
	switch {
	case b.Kind == KindCatalogueItem && b.Catalogue != nil:
		err = applyCatalogueDraft(tx, cmd, d.agent, *b.Catalogue, base)
	case b.Kind == KindNews && b.News != nil:
		err = putNewsUpdate(tx, NewsArgs{ID: b.Target, Title: b.News.Title, Body: b.News.Body})
	default:
		err = fmt.Errorf("draft %s: no content for its kind %q", d.args.ID, b.Kind)
	}
	if err != nil {
		return err
	}
	b.State, b.DecidedBy, b.Decided = DraftApplied, d.agent.Name, cmd.Time
	if err := putDraft(tx, cmd.Partition, d.args.ID, b); err != nil {
		return err
	}
	return putDraftNotice(tx, cmd, d.args.ID, b, "applied", "")
}

// applyCatalogueDraft updates the region item base with c by the rules of
// catalogue.update, for agent.
func applyCatalogueDraft(tx record.Tx, cmd record.Command, agent User, c CatalogueArgs, base DraftBase) error {
	c = withOwnFile(trimCatalogue(c), base)
	c.ID = base.ID
	if err := checkCatalogue(c, record.Region); err != nil {
		return err
	}
	if !CanEditCatalogue(agent, *base.Catalogue) {
		return rejectForbidden(catalogueEditRule)
	}
	rec, _, err := tx.Get(record.Region, base.ID)
	if err != nil {
		return err
	}
	var cb catalogueBody
	if err := json.Unmarshal(rec.Body, &cb); err != nil {
		return fmt.Errorf("decode catalogue item %s: %w", rec.ID, err)
	}
	// The last edit by time wins (catalogue.update): this one is the
	// latest, even against a clock behind the stored time.
	cb.Updated = max(cmd.Time, cb.Updated+1)
	return putCatalogue(tx, record.Region, c, cb)
}

func execDraftDiscard(tx record.Tx, cmd record.Command) error {
	d, err := draftDecision(tx, cmd, DraftDiscarded)
	if err != nil || d.done {
		return err
	}
	reason := strings.TrimSpace(d.args.Reason)
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > maxDraftReason {
		return rejectInvalid("La raison est trop longue (1 000 caractères au plus).")
	}
	b := d.draft
	b.State, b.Reason, b.DecidedBy, b.Decided = DraftDiscarded, reason, d.agent.Name, cmd.Time
	if err := putDraft(tx, cmd.Partition, d.args.ID, b); err != nil {
		return err
	}
	return putDraftNotice(tx, cmd, d.args.ID, b, "discarded", reason)
}

// putDraftNotice tells the proposal's author of the decision: a
// record.Notice of the decision's op in the lycée's partition, listed in
// the author's record.NoticeIndex. Its id is minted from the command
// (UUIDv7-shaped, its time in the top bits: NoticeTime); it carries no
// Origin, so no edge takes it for the refusal of one of its commands.
func putDraftNotice(tx record.Tx, cmd record.Command, draft string, b draftBody, code, msg string) error {
	args, err := json.Marshal(DraftDecisionArgs{ID: draft})
	if err != nil {
		return err
	}
	n, err := json.Marshal(record.Notice{User: b.AuthorID, Op: cmd.Op, Code: code, Message: msg, Args: args})
	if err != nil {
		return err
	}
	id := draftNoticeID(cmd.Time, cmd.Op+"\x00"+cmd.Partition+"\x00"+draft)
	if err := tx.Put(record.Record{Partition: cmd.Partition, ID: id, Kind: record.KindNotice, Body: n}); err != nil {
		return err
	}
	var idx record.NoticeIndex
	ix := record.NoticeIndexID(cmd.Partition, b.AuthorID)
	if err := getBody(tx, cmd.Partition, ix, record.KindNoticeIndex, &idx); err != nil {
		return err
	}
	if slices.Contains(idx.Notices, id) {
		return nil
	}
	idx.Notices = append(idx.Notices, id)
	body, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: ix, Kind: record.KindNoticeIndex, Body: body})
}

// draftNoticeID derives a UUIDv7-shaped id: ms in the top 48 bits, a hash
// of name in the rest.
func draftNoticeID(ms int64, name string) string {
	sum := sha256.Sum256([]byte(name))
	var u [16]byte
	copy(u[6:], sum[:])
	for i := range 6 {
		u[i] = byte(uint64(ms) >> (40 - 8*i))
	}
	u[6] = u[6]&0x0f | 0x70
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// draftNotice names a decision on a proposal for its author, from the
// notice n of partition: ok is false for a notice of another op.
func draftNotice(r record.Reader, partition string, n record.Notice) (text, link string, ok bool, err error) {
	if n.Op != OpDraftApply && n.Op != OpDraftDiscard {
		return "", "", false, nil
	}
	var a DraftDecisionArgs
	var d Draft
	if json.Unmarshal(n.Args, &a) == nil && validID(a.ID) {
		if d, ok, err = draftIn(r, partition, a.ID); err != nil {
			return "", "", false, err
		}
	}
	what := "Votre proposition de modification d'un contenu de la Région"
	if ok {
		what = "Votre proposition de modification de « " + d.Title + " »"
	}
	if n.Op == OpDraftApply {
		if ok {
			link = d.TargetPath()
		}
		return what + " a été appliquée par la Région.", link, true, nil
	}
	if ok {
		link = "/propositions/" + d.ID
	}
	if reason := strings.TrimSpace(n.Message); reason != "" {
		return what + " n'a pas été retenue : " + reason, link, true, nil
	}
	return what + " n'a pas été retenue par la Région.", link, true, nil
}

// draftRefused names a proposal central refused, for refusedObject.
func draftRefused(r record.Reader, args []byte) (string, string, error) {
	var a DraftArgs
	if json.Unmarshal(args, &a) != nil || !validID(a.Target) {
		return "Votre proposition de modification d'un contenu de la Région", "", nil
	}
	title := ""
	switch {
	case a.Catalogue != nil:
		title = a.Catalogue.Title
	case a.News != nil:
		title = a.News.Title
	}
	if base, ok, err := regionBase(r, a.Kind, a.Target); err != nil {
		return "", "", err
	} else if ok {
		title = base.Title
	}
	return "Votre proposition de modification de « " + strings.TrimSpace(title) + " »", "", nil
}

// draftIn reads proposal id of partition.
func draftIn(r record.Reader, partition, id string) (Draft, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindRegionDraft {
		return Draft{}, false, err
	}
	d, err := decodeDraft(rec)
	return d, err == nil, err
}

func decodeDraft(rec record.Record) (Draft, error) {
	var b draftBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return Draft{}, fmt.Errorf("decode draft %s: %w", rec.ID, err)
	}
	d := Draft{ID: rec.ID, Partition: rec.Partition, Target: b.Target, Kind: b.Kind, Seen: b.Seen, Title: b.Title,
		Catalogue: b.Catalogue, News: b.News, AuthorID: b.AuthorID, Author: b.Author, Proposed: time.UnixMilli(b.Proposed),
		State: b.State, Reason: b.Reason, DecidedBy: b.DecidedBy}
	if b.Decided > 0 {
		d.Decided = time.UnixMilli(b.Decided)
	}
	return d, nil
}

// News edits.

func execNewsUpdate(tx record.Tx, cmd record.Command) error {
	a, err := decodeNewsArgs(cmd.Args)
	if err != nil || !validID(a.ID) || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	u, ok, err := activeUser(tx, record.Region, cmd.User)
	if err != nil {
		return err
	}
	if cmd.Partition != record.Region || !ok || u.Profile != Region || cmd.Origin != record.OriginCentral {
		return rejectForbidden("Seuls les agents de la Région modifient les actualités régionales, au serveur régional.")
	}
	if !text(a.Title, maxTitle) || !text(a.Body, maxBody) {
		return rejectInvalid("Le titre et le texte de l'actualité sont obligatoires.")
	}
	return putNewsUpdate(tx, a)
}

// putNewsUpdate gives the live region news a.ID a's title and text,
// keeping its author and date; an unchanged item is not written again.
func putNewsUpdate(tx record.Tx, a NewsArgs) error {
	rec, ok, err := tx.Get(record.Region, a.ID)
	if err != nil {
		return err
	}
	if !ok || rec.Deleted || rec.Kind != KindNews {
		return record.Reject("not_found", "Actualité introuvable.")
	}
	var b newsBody
	if err := b.unmarshal(rec.Body); err != nil {
		return fmt.Errorf("decode news %s: %w", rec.ID, err)
	}
	title, body := strings.TrimSpace(a.Title), strings.TrimSpace(a.Body)
	if !text(title, maxTitle) || !text(body, maxBody) {
		return rejectInvalid("Le titre et le texte de l'actualité sont obligatoires.")
	}
	if b.Title == title && b.Body == body {
		return nil
	}
	b.Title, b.Body = title, body
	rec.Body = b.marshal()
	return tx.Put(rec)
}

// Service.

// DraftBase returns the region record id of kind (KindCatalogueItem or
// KindNews) as u would start a proposal from it. A user who may not
// propose is refused ("forbidden"); a record that is not live is
// ErrNotFound.
func (s *Service) DraftBase(ctx context.Context, u User, kind, id string) (DraftBase, error) {
	if !CanProposeDraft(u) {
		return DraftBase{}, rejectForbidden(draftProposeRule)
	}
	var b DraftBase
	var ok bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		b, ok, err = regionBase(r, kind, id)
		return err
	})
	if err != nil {
		return DraftBase{}, fmt.Errorf("draft base: %w", err)
	}
	if !ok {
		return DraftBase{}, ErrNotFound
	}
	return b, nil
}

// Propose records u's proposal a (a.ID minted when ""), in u's lycée.
// seen is the version of the record u saw (DraftBase.Version; 0: the
// current one). Refusals are *record.Rejection; a proposal that changes
// nothing is refused ("invalid").
func (s *Service) Propose(ctx context.Context, u User, a DraftArgs) (Draft, error) {
	base, err := s.DraftBase(ctx, u, a.Kind, a.Target)
	if err != nil {
		return Draft{}, err
	}
	if a, err = draftContent(a, base); err != nil {
		return Draft{}, err
	}
	if unchanged(a, base) {
		return Draft{}, rejectInvalid("Votre proposition ne change rien : modifiez au moins un champ.")
	}
	if a.Seen == 0 || a.Seen > base.Version {
		a.Seen = base.Version
	}
	if a.ID == "" {
		a.ID = record.NewID()
	}
	at := s.now()
	if err := s.submit(ctx, u, OpDraftPropose, u.UAI, a, at); err != nil {
		return Draft{}, err
	}
	return Draft{ID: a.ID, Partition: u.UAI, Target: a.Target, Kind: a.Kind, Seen: a.Seen, Title: base.Title,
		Catalogue: a.Catalogue, News: a.News, AuthorID: u.ID, Author: u.Name,
		Proposed: time.UnixMilli(at.UnixMilli()), State: DraftPending}, nil
}

// unchanged reports whether checked args a leave base as it is.
func unchanged(a DraftArgs, base DraftBase) bool {
	if n := a.News; n != nil && base.News != nil {
		return n.Title == base.News.Title && n.Body == base.News.Body
	}
	c, it := a.Catalogue, base.Catalogue
	if c == nil || it == nil {
		return false
	}
	return c.Title == it.Title && c.Description == it.Description && c.Discipline == it.Discipline &&
		c.Level == it.Level && (c.Link == "" || c.Link == it.Link)
}

// MyDrafts returns u's proposals, newest first.
func (s *Service) MyDrafts(ctx context.Context, u User) ([]Draft, error) {
	if !CanProposeDraft(u) {
		return nil, nil
	}
	var out []Draft
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(u.UAI, KindRegionDraft, func(rec record.Record) error {
			d, err := decodeDraft(rec)
			if err == nil && d.AuthorID == u.ID {
				out = append(out, d)
			}
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("my drafts: %w", err)
	}
	return out, nil
}

// MyDraft returns u's proposal id, or ErrNotFound.
func (s *Service) MyDraft(ctx context.Context, u User, id string) (Draft, error) {
	if !CanProposeDraft(u) || !validID(id) {
		return Draft{}, ErrNotFound
	}
	var d Draft
	var ok bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		d, ok, err = draftIn(r, u.UAI, id)
		return err
	})
	if err != nil {
		return Draft{}, fmt.Errorf("my draft: %w", err)
	}
	if !ok || d.AuthorID != u.ID {
		return Draft{}, ErrNotFound
	}
	return d, nil
}

// PendingDrafts returns, for Région staff, the pending proposals of every
// lycée the store holds (ServiceConfig.Partitions), the oldest first, with
// their lycée's name. Others are refused ("forbidden").
func (s *Service) PendingDrafts(ctx context.Context, u User) ([]DraftReview, error) {
	if !CanReviewDrafts(u) {
		return nil, rejectForbidden(draftDecideRule)
	}
	if s.partitions == nil {
		return nil, nil
	}
	parts, err := s.partitions()
	if err != nil {
		return nil, fmt.Errorf("pending drafts: list partitions: %w", err)
	}
	var out []DraftReview
	err = s.store.View(func(r record.Reader) error {
		for _, p := range parts {
			if !uai.Valid(p) {
				continue
			}
			name := ""
			err := r.Scan(p, KindRegionDraft, func(rec record.Record) error {
				d, err := decodeDraft(rec)
				if err != nil || !d.Pending() {
					return err
				}
				if name == "" {
					name = lyceeName(r, p)
				}
				out = append(out, DraftReview{Draft: d, LyceeName: name})
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending drafts: %w", err)
	}
	slices.SortFunc(out, func(a, b DraftReview) int {
		return cmp.Or(a.Proposed.Compare(b.Proposed), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// lyceeName is the name of lycée p, or its UAI when unknown.
func lyceeName(r record.Reader, p string) string {
	rec, ok, err := r.ByKey(KindLycee, p)
	if err != nil || !ok {
		return p
	}
	l, err := decodeLycee(rec.Body)
	if err != nil || l.Name == "" {
		return p
	}
	return l.Name
}

// ReviewDraft returns proposal id of lycée partition beside the region
// record as it is now, for Région staff; others are refused
// ("forbidden"), an unknown proposal is ErrNotFound.
func (s *Service) ReviewDraft(ctx context.Context, u User, partition, id string) (DraftReview, error) {
	if !CanReviewDrafts(u) {
		return DraftReview{}, rejectForbidden(draftDecideRule)
	}
	if !uai.Valid(partition) || !validID(id) {
		return DraftReview{}, ErrNotFound
	}
	var rv DraftReview
	var ok bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		if rv.Draft, ok, err = draftIn(r, partition, id); err != nil || !ok {
			return err
		}
		rv.LyceeName = lyceeName(r, partition)
		var live bool
		if rv.Current, live, err = regionBase(r, rv.Kind, rv.Target); err != nil {
			return err
		}
		rv.Retired = !live
		rv.Changed = live && rv.Current.Version != rv.Seen
		return nil
	})
	if err != nil {
		return DraftReview{}, fmt.Errorf("review draft: %w", err)
	}
	if !ok {
		return DraftReview{}, ErrNotFound
	}
	return rv, nil
}

// ApplyDraft applies u's decision: proposal id of lycée partition
// becomes the region record's content. Refusals are *record.Rejection.
func (s *Service) ApplyDraft(ctx context.Context, u User, partition, id string) error {
	if !CanReviewDrafts(u) {
		return rejectForbidden(draftDecideRule)
	}
	return s.submit(ctx, u, OpDraftApply, partition, DraftDecisionArgs{ID: id}, s.now())
}

// DiscardDraft discards proposal id of lycée partition, with reason
// (optional) for its author. Refusals are *record.Rejection.
func (s *Service) DiscardDraft(ctx context.Context, u User, partition, id, reason string) error {
	if !CanReviewDrafts(u) {
		return rejectForbidden(draftDecideRule)
	}
	return s.submit(ctx, u, OpDraftDiscard, partition, DraftDecisionArgs{ID: id, Reason: strings.TrimSpace(reason)}, s.now())
}

// UpdateNews gives region news id a new title and text (Région staff).
// Refusals are *record.Rejection.
func (s *Service) UpdateNews(ctx context.Context, u User, id, title, body string) error {
	if u.Profile != Region {
		return rejectForbidden("Seuls les agents de la Région modifient les actualités régionales.")
	}
	return s.submit(ctx, u, OpNewsUpdate, record.Region, NewsArgs{ID: id, Title: title, Body: body}, s.now())
}

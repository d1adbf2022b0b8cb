package ent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"atrium/record"

	"github.com/google/uuid"
)

// The espaces collaboratifs (national label Travail_Collaboratif): shared
// spaces of a lycée where members put documents in folders. Rules:
//
//   - Every class of the lycée has its space implicitly (no record): its
//     id is ClassSpaceID(uai, class), its members the class's students and
//     the teachers who teach it.
//   - A Teacher or a Personnel creates a group space (a name and members
//     chosen among the lycée's students, teachers and staff: students only
//     from the classes a teacher teaches, any student for the staff, as the
//     rules that protect minors say in rules.go; never a relative) or an
//     adults-only space (every teacher and staff member of the lycée).
//   - The lycée's staff read every space of the lycée. Relatives and Région
//     staff have none.
//   - Any member deposits a document (a file, a folder, "Général" by
//     default, and a short description) and deposits new versions of it.
//     Versions are append-only records: two deposited on both sides of a
//     cut both stand, ordered by time then id, the latest shown first.
//   - The document's depositor, the space's creator (group and adults
//     spaces), the teachers of the class (class spaces) and the staff
//     delete a document (tombstone; its versions are no longer reachable).
//
// Everything lives in the lycée's partition, files included (files.go).

// Kinds of space.
const (
	SpaceClass  = "classe"
	SpaceGroup  = "groupe"
	SpaceAdults = "adultes"
)

// DefaultFolder is the folder of a document deposited without one.
const DefaultFolder = "Général"

const (
	maxSpaceMembers = 1000
	maxFolder       = 100
	maxDescription  = 500
)

// Space is a collaborative space of a lycée.
type Space struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"`
	Kind      string    `json:"kind"` // SpaceClass, SpaceGroup or SpaceAdults
	Name      string    `json:"name"`
	Class     string    `json:"class,omitempty"`     // SpaceClass only
	CreatorID string    `json:"creatorId,omitempty"` // not for class spaces
	Creator   string    `json:"creator,omitempty"`
	Members   []string  `json:"members,omitempty"` // SpaceGroup: user ids, the creator included
	Created   time.Time `json:"created"`           // zero for class spaces
	Documents int       `json:"documents"`         // set by ListSpaces
}

// SpaceDocument is a document of a space with its versions, the latest
// first.
type SpaceDocument struct {
	ID          string         `json:"id"`
	Partition   string         `json:"partition"`
	SpaceID     string         `json:"spaceId"`
	Class       string         `json:"class,omitempty"` // the class of a class space
	Folder      string         `json:"folder"`
	Description string         `json:"description"`
	DepositorID string         `json:"depositorId"`
	Depositor   string         `json:"depositor"`
	Created     time.Time      `json:"created"`
	Versions    []SpaceVersion `json:"versions"`
}

// Name is the file name of the document's latest version.
func (d SpaceDocument) Name() string {
	if len(d.Versions) == 0 {
		return ""
	}
	return d.Versions[0].File.Name
}

// Updated is the time of the latest version.
func (d SpaceDocument) Updated() time.Time {
	if len(d.Versions) == 0 {
		return d.Created
	}
	return d.Versions[0].Created
}

// SpaceVersion is one version of a document. Number counts from 1, the
// oldest.
type SpaceVersion struct {
	ID         string    `json:"id"`
	DocumentID string    `json:"documentId"`
	Number     int       `json:"number"`
	AuthorID   string    `json:"authorId"`
	Author     string    `json:"author"`
	Created    time.Time `json:"created"`
	File       FileRef   `json:"file"`
}

// SpaceArgs are the arguments of OpSpaceCreate.
type SpaceArgs struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"` // SpaceGroup or SpaceAdults
	Name    string   `json:"name"`
	Members []string `json:"members,omitempty"` // SpaceGroup: user ids besides the creator
}

// SpaceDepositArgs are the arguments of OpSpaceDeposit: a document and its
// first version.
type SpaceDepositArgs struct {
	ID          string  `json:"id"`
	VersionID   string  `json:"versionId"`
	SpaceID     string  `json:"spaceId"`
	Class       string  `json:"class,omitempty"` // set when SpaceID is a class space
	Folder      string  `json:"folder"`
	Description string  `json:"description"`
	File        FileRef `json:"file"`
}

// SpaceVersionArgs are the arguments of OpSpaceVersion.
type SpaceVersionArgs struct {
	ID         string  `json:"id"`
	DocumentID string  `json:"documentId"`
	File       FileRef `json:"file"`
}

// SpaceDeleteArgs are the arguments of OpSpaceDelete.
type SpaceDeleteArgs struct {
	ID string `json:"id"` // the document's
}

type spaceBody struct {
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	CreatorID string   `json:"creatorId"`
	Creator   string   `json:"creator"`
	Members   []string `json:"members,omitempty"`
	Created   int64    `json:"created"`
}

type spaceDocBody struct {
	SpaceID     string `json:"spaceId"`
	Class       string `json:"class,omitempty"`
	Folder      string `json:"folder"`
	Description string `json:"description"`
	DepositorID string `json:"depositorId"`
	Depositor   string `json:"depositor"`
	Created     int64  `json:"created"`
}

type spaceVersionBody struct {
	DocumentID string  `json:"documentId"`
	AuthorID   string  `json:"authorId"`
	Author     string  `json:"author"`
	Created    int64   `json:"created"`
	File       FileRef `json:"file"`
}

var classSpaceNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://atrium.region/espace-classe"))

// ClassSpaceID is the stable id of the space of class in lycée uai: a UUID
// (version 5) of both, the same at central and at every edge.
func ClassSpaceID(uai, class string) string {
	return uuid.NewSHA1(classSpaceNamespace, []byte(uai+"\x00"+class)).String()
}

// ClassSpace is the implicit space of class in lycée uai.
func ClassSpace(uai, class string) Space {
	return Space{ID: ClassSpaceID(uai, class), Partition: uai, Kind: SpaceClass, Name: "Classe " + class, Class: class}
}

// SpaceKindLabel is the French name of a kind of space.
func SpaceKindLabel(k string) string {
	switch k {
	case SpaceClass:
		return "Espace de classe"
	case SpaceGroup:
		return "Espace de groupe"
	case SpaceAdults:
		return "Espace des adultes (enseignants et personnels)"
	}
	return k
}

// HasSpaces reports whether u has collaborative spaces: students, teachers
// and staff of a lycée.
func HasSpaces(u User) bool {
	return u.UAI != "" && (u.Profile == Student || u.Profile == Teacher || u.Profile == Personnel)
}

// CanCreateSpace reports whether u creates group and adults spaces: the
// teachers and staff of a lycée.
func CanCreateSpace(u User) bool {
	return u.UAI != "" && (u.Profile == Teacher || u.Profile == Personnel)
}

// ReadsSpace reports whether u is a member of sp (reads it, deposits in
// it). Pure.
func ReadsSpace(u User, sp Space) bool {
	if !HasSpaces(u) || sp.Partition != u.UAI {
		return false
	}
	if u.Profile == Personnel {
		return true
	}
	switch sp.Kind {
	case SpaceClass:
		return slices.Contains(u.Classes, sp.Class)
	case SpaceAdults:
		return u.Profile == Teacher
	case SpaceGroup:
		return u.ID == sp.CreatorID || slices.Contains(sp.Members, u.ID)
	}
	return false
}

// CanDeleteSpaceDocument reports whether u deletes d of sp: its depositor,
// the space's creator, a teacher of the class, the staff. Pure.
func CanDeleteSpaceDocument(u User, sp Space, d SpaceDocument) bool {
	if !ReadsSpace(u, sp) {
		return false
	}
	switch {
	case u.Profile == Personnel, u.ID == d.DepositorID:
		return true
	case sp.Kind == SpaceClass:
		return u.Profile == Teacher
	}
	return sp.CreatorID != "" && u.ID == sp.CreatorID
}

const (
	spaceCreateRule = "Seuls les enseignants et les personnels du lycée créent des espaces."
	spaceMemberRule = "Vous n'êtes pas membre de cet espace."
	spaceDeleteRule = "Seuls l'auteur du dépôt, le créateur de l'espace, les enseignants de la classe et les personnels suppriment un document."
)

// SpaceMemberAllowed is the refusal of adding m to a group space created
// by creator, or nil: no relatives, no Région staff, a teacher adds only
// students of the classes they teach. Pure.
func SpaceMemberAllowed(creator, m User) error {
	switch {
	case m.UAI != creator.UAI || m.Profile == Region || !m.Active:
		return rejectInvalid("Membre inconnu dans ce lycée.")
	case m.Profile == Relative:
		return rejectForbidden("Les responsables légaux ne sont pas membres des espaces collaboratifs.")
	case m.Profile == Student && creator.Profile != Personnel && !shareClass(creator.Classes, m.Classes):
		return rejectForbidden("Vous n'ajoutez que des élèves des classes où vous enseignez.")
	}
	return nil
}

func trimSpace(a SpaceArgs) SpaceArgs {
	a.Name, a.Kind = strings.TrimSpace(a.Name), strings.TrimSpace(a.Kind)
	if a.Kind != SpaceGroup {
		a.Members = nil
	}
	return a
}

func checkSpace(a SpaceArgs) error {
	switch {
	case !text(a.Name, maxTitle):
		return rejectInvalid("Le nom de l'espace est obligatoire.")
	case a.Kind != SpaceGroup && a.Kind != SpaceAdults:
		return rejectInvalid("Un espace créé est un espace de groupe ou un espace des adultes.")
	case len(a.Members) > maxSpaceMembers:
		return rejectInvalid(fmt.Sprintf("Un espace compte au plus %d membres.", maxSpaceMembers))
	}
	return nil
}

// folderName is the folder of a deposit: trimmed, DefaultFolder if empty.
func folderName(f string) string {
	if f = strings.TrimSpace(f); f == "" {
		return DefaultFolder
	}
	return f
}

func checkDeposit(a SpaceDepositArgs) error {
	switch {
	case !text(a.Folder, maxFolder):
		return rejectInvalid(fmt.Sprintf("Le nom du dossier compte au plus %d caractères.", maxFolder))
	case !text(a.Description, maxDescription):
		return rejectInvalid(fmt.Sprintf("La description du document est obligatoire (%d caractères au plus).", maxDescription))
	}
	return CheckFileRef(a.File)
}

func execSpaceCreate(tx record.Tx, cmd record.Command) error {
	var a SpaceArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Partition == record.Region || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindSpace); err != nil || done {
		return err
	}
	a = trimSpace(a)
	if err := checkSpace(a); err != nil {
		return err
	}
	creator, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanCreateSpace(creator) {
		return rejectForbidden(spaceCreateRule)
	}
	members := []string{creator.ID}
	for _, id := range a.Members {
		if slices.Contains(members, id) {
			continue
		}
		m, ok, err := activeUser(tx, cmd.Partition, id)
		if err != nil {
			return err
		}
		if !ok {
			return rejectInvalid("Membre inconnu dans ce lycée.")
		}
		if err := SpaceMemberAllowed(creator, m); err != nil {
			return err
		}
		members = append(members, id)
	}
	b := spaceBody{Kind: a.Kind, Name: a.Name, CreatorID: creator.ID, Creator: creator.Name, Created: cmd.Time}
	if a.Kind == SpaceGroup {
		b.Members = members
	}
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindSpace, Body: body})
}

// spaceAt returns space id of partition: the class space of class when id
// is its id, else the space record; a "not_found" rejection otherwise.
func spaceAt(r record.Reader, partition, id, class string) (Space, error) {
	if class != "" && ClassSpaceID(partition, class) == id {
		return ClassSpace(partition, class), nil
	}
	rec, ok, err := r.Get(partition, id)
	if err != nil {
		return Space{}, err
	}
	if !ok || rec.Deleted || rec.Kind != KindSpace {
		return Space{}, record.Reject("not_found", "Espace introuvable.")
	}
	return decodeSpace(rec)
}

// spaceMember returns the author of cmd if they are a member of sp.
func spaceMember(tx record.Tx, cmd record.Command, sp Space) (User, error) {
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return User{}, err
	}
	if !ok || !ReadsSpace(u, sp) {
		return User{}, rejectForbidden(spaceMemberRule)
	}
	return u, nil
}

func putVersion(tx record.Tx, partition, id, docID string, u User, at int64, f FileRef) error {
	body, err := json.Marshal(spaceVersionBody{DocumentID: docID, AuthorID: u.ID, Author: u.Name, Created: at, File: f})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: id, Kind: KindSpaceVersion, Body: body})
}

func execSpaceDeposit(tx record.Tx, cmd record.Command) error {
	var a SpaceDepositArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.VersionID) || a.ID == a.VersionID || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindSpaceDocument); err != nil || done {
		return err
	}
	if _, ok, err := tx.Get(cmd.Partition, a.VersionID); err != nil || ok {
		if ok {
			return rejectInvalid("Identifiant déjà utilisé.")
		}
		return err
	}
	a.Folder, a.Description = folderName(a.Folder), strings.TrimSpace(a.Description)
	if err := checkDeposit(a); err != nil {
		return err
	}
	sp, err := spaceAt(tx, cmd.Partition, a.SpaceID, strings.TrimSpace(a.Class))
	if err != nil {
		return err
	}
	u, err := spaceMember(tx, cmd, sp)
	if err != nil {
		return err
	}
	body, err := json.Marshal(spaceDocBody{SpaceID: sp.ID, Class: sp.Class, Folder: a.Folder, Description: a.Description,
		DepositorID: u.ID, Depositor: u.Name, Created: cmd.Time})
	if err != nil {
		return err
	}
	if err := tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindSpaceDocument, Body: body}); err != nil {
		return err
	}
	return putVersion(tx, cmd.Partition, a.VersionID, a.ID, u, cmd.Time, a.File)
}

// liveDocument returns document id of partition and its space, or a
// "not_found" rejection (deleted included).
func liveDocument(r record.Reader, partition, id string) (SpaceDocument, Space, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil {
		return SpaceDocument{}, Space{}, err
	}
	if !ok || rec.Deleted || rec.Kind != KindSpaceDocument {
		return SpaceDocument{}, Space{}, record.Reject("not_found", "Document introuvable.")
	}
	d, err := decodeSpaceDoc(rec)
	if err != nil {
		return SpaceDocument{}, Space{}, err
	}
	sp, err := spaceAt(r, partition, d.SpaceID, d.Class)
	return d, sp, err
}

func execSpaceVersion(tx record.Tx, cmd record.Command) error {
	var a SpaceVersionArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindSpaceVersion); err != nil || done {
		return err
	}
	if err := CheckFileRef(a.File); err != nil {
		return err
	}
	_, sp, err := liveDocument(tx, cmd.Partition, a.DocumentID)
	if err != nil {
		return err
	}
	u, err := spaceMember(tx, cmd, sp)
	if err != nil {
		return err
	}
	return putVersion(tx, cmd.Partition, a.ID, a.DocumentID, u, cmd.Time, a.File)
}

func execSpaceDelete(tx record.Tx, cmd record.Command) error {
	rec, err := deletionTarget(tx, cmd, "Document introuvable.", KindSpaceDocument)
	if err != nil {
		return err
	}
	if rec.Deleted {
		return nil // already deleted: a retransmission, or another's delete
	}
	d, sp, err := liveDocument(tx, cmd.Partition, rec.ID)
	if err != nil {
		return err
	}
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanDeleteSpaceDocument(u, sp, d) {
		return rejectForbidden(spaceDeleteRule)
	}
	rec.Deleted, rec.Body = true, nil
	return tx.Put(rec)
}

func decodeSpace(rec record.Record) (Space, error) {
	var b spaceBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return Space{}, fmt.Errorf("decode space %s: %w", rec.ID, err)
	}
	return Space{ID: rec.ID, Partition: rec.Partition, Kind: b.Kind, Name: b.Name, CreatorID: b.CreatorID,
		Creator: b.Creator, Members: b.Members, Created: time.UnixMilli(b.Created)}, nil
}

func decodeSpaceDoc(rec record.Record) (SpaceDocument, error) {
	var b spaceDocBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return SpaceDocument{}, fmt.Errorf("decode space document %s: %w", rec.ID, err)
	}
	return SpaceDocument{ID: rec.ID, Partition: rec.Partition, SpaceID: b.SpaceID, Class: b.Class, Folder: b.Folder,
		Description: b.Description, DepositorID: b.DepositorID, Depositor: b.Depositor, Created: time.UnixMilli(b.Created)}, nil
}

func decodeSpaceVersion(rec record.Record) (SpaceVersion, error) {
	var b spaceVersionBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return SpaceVersion{}, fmt.Errorf("decode space version %s: %w", rec.ID, err)
	}
	return SpaceVersion{ID: rec.ID, DocumentID: b.DocumentID, AuthorID: b.AuthorID, Author: b.Author,
		Created: time.UnixMilli(b.Created), File: b.File}, nil
}

// lyceeClasses returns the classes of the lycée's active students and
// teachers, sorted.
func lyceeClasses(r record.Reader, uai string) ([]string, error) {
	seen := map[string]bool{}
	err := r.Scan(uai, KindUser, func(rec record.Record) error {
		o, err := decodeUser(rec.Body)
		if err != nil {
			return fmt.Errorf("decode user %s: %w", rec.ID, err)
		}
		if o.Active && (o.Profile == Student || o.Profile == Teacher) {
			for _, c := range o.Classes {
				if c != "" {
					seen[c] = true
				}
			}
		}
		return nil
	})
	return slices.Sorted(func(yield func(string) bool) {
		for c := range seen {
			if !yield(c) {
				return
			}
		}
	}), err
}

// userSpaces returns the spaces u reads: class spaces by class, then the
// created ones by name.
func userSpaces(r record.Reader, u User) ([]Space, error) {
	classes := u.Classes
	if u.Profile == Personnel {
		var err error
		if classes, err = lyceeClasses(r, u.UAI); err != nil {
			return nil, err
		}
	}
	var out, created []Space
	for _, c := range slices.Sorted(slices.Values(classes)) {
		if c != "" {
			out = append(out, ClassSpace(u.UAI, c))
		}
	}
	err := r.Scan(u.UAI, KindSpace, func(rec record.Record) error {
		sp, err := decodeSpace(rec)
		if err == nil && ReadsSpace(u, sp) {
			created = append(created, sp)
		}
		return err
	})
	sort.SliceStable(created, func(i, j int) bool {
		if created[i].Name != created[j].Name {
			return created[i].Name < created[j].Name
		}
		return created[i].ID < created[j].ID
	})
	return append(out, created...), err
}

// findSpace returns space id of u's lycée, ok=false when there is none.
// Whether u is a member is the caller's question.
func findSpace(r record.Reader, u User, id string) (Space, bool, error) {
	if u.UAI == "" || !validID(id) {
		return Space{}, false, nil
	}
	rec, ok, err := r.Get(u.UAI, id)
	if err != nil {
		return Space{}, false, err
	}
	if ok {
		if rec.Deleted || rec.Kind != KindSpace {
			return Space{}, false, nil
		}
		sp, err := decodeSpace(rec)
		return sp, err == nil, err
	}
	for _, c := range u.Classes { // the usual case, without a scan
		if c != "" && ClassSpaceID(u.UAI, c) == id {
			return ClassSpace(u.UAI, c), true, nil
		}
	}
	classes, err := lyceeClasses(r, u.UAI)
	if err != nil {
		return Space{}, false, err
	}
	for _, c := range classes {
		if ClassSpaceID(u.UAI, c) == id {
			return ClassSpace(u.UAI, c), true, nil
		}
	}
	return Space{}, false, nil
}

// memberSpace returns space id if u is a member; ErrNotFound when the
// lycée has no such space, a "forbidden" rejection when u is not a member.
func memberSpace(r record.Reader, u User, id string) (Space, error) {
	sp, ok, err := findSpace(r, u, id)
	switch {
	case err != nil:
		return Space{}, err
	case !ok:
		return Space{}, ErrNotFound
	case !ReadsSpace(u, sp):
		return Space{}, rejectForbidden(spaceMemberRule)
	}
	return sp, nil
}

// spaceDocuments returns the live documents of space id with their
// versions (latest first), by folder then latest version first.
func spaceDocuments(r record.Reader, partition, spaceID, docID string) ([]SpaceDocument, error) {
	var docs []SpaceDocument
	idx := map[string]int{}
	if err := r.Scan(partition, KindSpaceDocument, func(rec record.Record) error {
		d, err := decodeSpaceDoc(rec)
		if err == nil && d.SpaceID == spaceID && (docID == "" || d.ID == docID) {
			idx[d.ID] = len(docs)
			docs = append(docs, d)
		}
		return err
	}); err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, nil
	}
	if err := r.Scan(partition, KindSpaceVersion, func(rec record.Record) error {
		v, err := decodeSpaceVersion(rec)
		if i, ok := idx[v.DocumentID]; ok && err == nil {
			docs[i].Versions = append(docs[i].Versions, v)
		}
		return err
	}); err != nil {
		return nil, err
	}
	for i := range docs {
		vs := docs[i].Versions
		sort.Slice(vs, func(a, b int) bool {
			if !vs[a].Created.Equal(vs[b].Created) {
				return vs[a].Created.Before(vs[b].Created)
			}
			return vs[a].ID < vs[b].ID
		})
		for n := range vs {
			vs[n].Number = n + 1
		}
		slices.Reverse(vs)
	}
	sort.SliceStable(docs, func(i, j int) bool {
		if docs[i].Folder != docs[j].Folder {
			return docs[i].Folder < docs[j].Folder
		}
		if a, b := docs[i].Updated(), docs[j].Updated(); !a.Equal(b) {
			return a.After(b)
		}
		return docs[i].ID > docs[j].ID
	})
	return docs, nil
}

// wrapQuery returns the refusals and ErrNotFound as they are, and wraps
// the store's errors.
func wrapQuery(what string, err error) error {
	if _, ok := record.AsRejection(err); ok || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ListSpaces returns the spaces u reads with their number of documents:
// class spaces by class, then group and adults spaces by name.
func (s *Service) ListSpaces(ctx context.Context, u User) ([]Space, error) {
	if !HasSpaces(u) {
		return nil, nil
	}
	var out []Space
	err := s.store.View(func(r record.Reader) error {
		var err error
		if out, err = userSpaces(r, u); err != nil {
			return err
		}
		count, err := countChildren(r, u.UAI, KindSpaceDocument, decodeSpaceDoc, func(d SpaceDocument) string { return d.SpaceID })
		for i := range out {
			out[i].Documents = count[out[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list spaces: %w", err)
	}
	return out, nil
}

// GetSpace returns space id and its documents if u is a member; else
// ErrNotFound (no such space in u's lycée) or a "forbidden" refusal.
func (s *Service) GetSpace(ctx context.Context, u User, id string) (Space, []SpaceDocument, error) {
	var sp Space
	var docs []SpaceDocument
	err := s.store.View(func(r record.Reader) error {
		var err error
		if sp, err = memberSpace(r, u, id); err != nil {
			return err
		}
		docs, err = spaceDocuments(r, u.UAI, id, "")
		return err
	})
	if err != nil {
		return Space{}, nil, wrapQuery("get space", err)
	}
	sp.Documents = len(docs)
	return sp, docs, nil
}

// MemberSpace returns space id, without its documents, if u is a member;
// else GetSpace's error. Pages call it before they store an upload.
func (s *Service) MemberSpace(ctx context.Context, u User, id string) (Space, error) {
	var sp Space
	err := s.store.View(func(r record.Reader) error {
		var err error
		sp, err = memberSpace(r, u, id)
		return err
	})
	if err != nil {
		return Space{}, wrapQuery("member space", err)
	}
	return sp, nil
}

// GetSpaceDocument returns document docID of space spaceID with its
// versions if u is a member of the space; else ErrNotFound or a
// "forbidden" refusal, as GetSpace.
func (s *Service) GetSpaceDocument(ctx context.Context, u User, spaceID, docID string) (Space, SpaceDocument, error) {
	var sp Space
	var docs []SpaceDocument
	err := s.store.View(func(r record.Reader) error {
		var err error
		if sp, err = memberSpace(r, u, spaceID); err != nil {
			return err
		}
		docs, err = spaceDocuments(r, u.UAI, spaceID, docID)
		return err
	})
	if err != nil {
		return Space{}, SpaceDocument{}, wrapQuery("get space document", err)
	}
	if len(docs) != 1 {
		return Space{}, SpaceDocument{}, ErrNotFound
	}
	return sp, docs[0], nil
}

// SpaceCandidates returns the users u may add to a group space: the
// lycée's teachers and staff, and its students (a teacher: those of the
// classes they teach), sorted; u excluded.
func (s *Service) SpaceCandidates(ctx context.Context, u User) ([]User, error) {
	if !CanCreateSpace(u) {
		return nil, nil
	}
	var out []User
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(u.UAI, KindUser, func(rec record.Record) error {
			o, err := decodeUser(rec.Body)
			if err != nil {
				return fmt.Errorf("decode user %s: %w", rec.ID, err)
			}
			if o.ID != u.ID && SpaceMemberAllowed(u, o) == nil {
				out = append(out, o)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("space candidates: %w", err)
	}
	sortUsers(out)
	return out, nil
}

// CreateSpace creates a group or adults space by u. Refusals are
// *record.Rejection.
func (s *Service) CreateSpace(ctx context.Context, u User, a SpaceArgs) (Space, error) {
	if !CanCreateSpace(u) {
		return Space{}, rejectForbidden(spaceCreateRule)
	}
	a = trimSpace(a)
	a.ID = record.NewID()
	if err := checkSpace(a); err != nil {
		return Space{}, err
	}
	var members []string
	err := s.store.View(func(r record.Reader) error {
		members = []string{u.ID}
		for _, id := range a.Members {
			if slices.Contains(members, id) {
				continue
			}
			m, ok, err := userByID(r, u.UAI, id)
			if err != nil {
				return err
			}
			if !ok {
				return rejectInvalid("Membre inconnu dans ce lycée.")
			}
			if err := SpaceMemberAllowed(u, m); err != nil {
				return err
			}
			members = append(members, id)
		}
		return nil
	})
	if err != nil {
		return Space{}, err
	}
	at := s.now()
	if err := s.submit(ctx, u, OpSpaceCreate, u.UAI, a, at); err != nil {
		return Space{}, err
	}
	sp := Space{ID: a.ID, Partition: u.UAI, Kind: a.Kind, Name: a.Name, CreatorID: u.ID, Creator: u.Name,
		Created: time.UnixMilli(at.UnixMilli())}
	if a.Kind == SpaceGroup {
		sp.Members = members
	}
	return sp, nil
}

// DepositSpaceDocument deposits a document (file already stored with
// StoreFile in u's lycée) in space spaceID, of which u is a member (else
// MemberSpace's error).
func (s *Service) DepositSpaceDocument(ctx context.Context, u User, spaceID, folder, description string, f FileRef) (SpaceDocument, error) {
	sp, err := s.MemberSpace(ctx, u, spaceID)
	if err != nil {
		return SpaceDocument{}, err
	}
	a := SpaceDepositArgs{ID: record.NewID(), VersionID: record.NewID(), SpaceID: sp.ID, Class: sp.Class,
		Folder: folderName(folder), Description: strings.TrimSpace(description), File: f}
	if err := checkDeposit(a); err != nil {
		return SpaceDocument{}, err
	}
	at := s.now()
	if err := s.submit(ctx, u, OpSpaceDeposit, u.UAI, a, at); err != nil {
		return SpaceDocument{}, err
	}
	created := time.UnixMilli(at.UnixMilli())
	return SpaceDocument{ID: a.ID, Partition: u.UAI, SpaceID: sp.ID, Class: sp.Class, Folder: a.Folder,
		Description: a.Description, DepositorID: u.ID, Depositor: u.Name, Created: created,
		Versions: []SpaceVersion{{ID: a.VersionID, DocumentID: a.ID, Number: 1, AuthorID: u.ID, Author: u.Name, Created: created, File: f}}}, nil
}

// AddSpaceVersion deposits a new version of document docID of space
// spaceID (u a member, else GetSpaceDocument's error).
func (s *Service) AddSpaceVersion(ctx context.Context, u User, spaceID, docID string, f FileRef) (SpaceVersion, error) {
	_, d, err := s.GetSpaceDocument(ctx, u, spaceID, docID)
	if err != nil {
		return SpaceVersion{}, err
	}
	if err := CheckFileRef(f); err != nil {
		return SpaceVersion{}, err
	}
	a := SpaceVersionArgs{ID: record.NewID(), DocumentID: d.ID, File: f}
	at := s.now()
	if err := s.submit(ctx, u, OpSpaceVersion, u.UAI, a, at); err != nil {
		return SpaceVersion{}, err
	}
	return SpaceVersion{ID: a.ID, DocumentID: d.ID, Number: len(d.Versions) + 1, AuthorID: u.ID, Author: u.Name,
		Created: time.UnixMilli(at.UnixMilli()), File: f}, nil
}

// DeleteSpaceDocument deletes document docID of space spaceID: refused
// ("forbidden") to whom may not, GetSpaceDocument's error otherwise.
func (s *Service) DeleteSpaceDocument(ctx context.Context, u User, spaceID, docID string) error {
	sp, d, err := s.GetSpaceDocument(ctx, u, spaceID, docID)
	if err != nil {
		return err
	}
	if !CanDeleteSpaceDocument(u, sp, d) {
		return rejectForbidden(spaceDeleteRule)
	}
	return s.submit(ctx, u, OpSpaceDelete, u.UAI, SpaceDeleteArgs{ID: d.ID}, s.now())
}

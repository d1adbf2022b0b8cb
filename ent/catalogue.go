package ent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"atrium/record"
)

// The catalogue of resources (Ressources_En_Ligne): documents and links for
// teaching, each with a discipline, a level and EITHER a file OR a link.
// Its rules:
//
//   - The region's catalogue lives in record.Region: Région staff publish,
//     edit and retire its items at central; every user of every lycée (and
//     Région staff) reads them. Edges receive them with their files
//     (PublishedToEdge), so a lycée reads them while its link is down.
//   - A lycée's catalogue lives in its partition: its teachers and staff
//     (Personnel) publish; an item is edited or retired by its author or
//     the lycée's staff (Personnel or administrator). Every user of the
//     lycée reads it, unless it is for some classes only: then its
//     students read it if they are in one of them, relatives if a child
//     is; teachers and staff read every item. A teacher restricts an item
//     to classes they teach; staff to any class.
//   - Edits carry the whole item and the last one by time wins: an edit
//     older than what is stored is a no-op, so an edge's late edit does not
//     undo a newer one. Retiring leaves a tombstone; a retransmitted
//     command on it is a no-op.
//
// Files are stored first (StoreFile, in the item's partition) and the item
// names them by their FileRef.

// Levels of a catalogue item: CatalogueLevels in the order forms show them.
const (
	LevelSeconde   = "seconde"
	LevelPremiere  = "premiere"
	LevelTerminale = "terminale"
	LevelBTS       = "bts"
	LevelAll       = "tous"
)

// CatalogueLevels are the levels, in the order forms list them.
var CatalogueLevels = []string{LevelSeconde, LevelPremiere, LevelTerminale, LevelBTS, LevelAll}

// LevelLabel returns the French name of a level.
func LevelLabel(level string) string {
	switch level {
	case LevelSeconde:
		return "Seconde"
	case LevelPremiere:
		return "Première"
	case LevelTerminale:
		return "Terminale"
	case LevelBTS:
		return "BTS"
	case LevelAll:
		return "Tous niveaux"
	}
	return level
}

// CatalogueItem is a resource of a catalogue: File or Link is set, never
// both.
type CatalogueItem struct {
	ID          string    `json:"id"`
	Partition   string    `json:"partition"` // record.Region or the lycée's UAI
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Discipline  string    `json:"discipline"`
	Level       string    `json:"level"`
	Classes     []string  `json:"classes,omitempty"` // none: the whole lycée
	File        *FileRef  `json:"file,omitempty"`
	Link        string    `json:"link,omitempty"`
	AuthorID    string    `json:"authorId"`
	Author      string    `json:"author"`
	Published   time.Time `json:"published"`
	Updated     time.Time `json:"updated"`
}

// Region reports whether it is an item of the region's catalogue.
func (it CatalogueItem) Region() bool { return it.Partition == record.Region }

// CatalogueArgs are the arguments of "catalogue.publish" and
// "catalogue.update": the whole item. ID is minted by the Service when ""
// on publish.
type CatalogueArgs struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Discipline  string   `json:"discipline"`
	Level       string   `json:"level"`
	Classes     []string `json:"classes,omitempty"`
	File        *FileRef `json:"file,omitempty"`
	Link        string   `json:"link,omitempty"`
}

// CatalogueRetireArgs are the arguments of "catalogue.retire".
type CatalogueRetireArgs struct {
	ID string `json:"id"`
}

// CatalogueFilter selects items of a list; "" fields select all.
type CatalogueFilter struct {
	Discipline string // compared without case
	Level      string // an item for every level (LevelAll) matches any
}

// catalogueBody is the stored document; times are unix milliseconds from
// the commands.
type catalogueBody struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Discipline  string   `json:"discipline"`
	Level       string   `json:"level"`
	Classes     []string `json:"classes,omitempty"`
	File        *FileRef `json:"file,omitempty"`
	Link        string   `json:"link,omitempty"`
	AuthorID    string   `json:"authorId"`
	Author      string   `json:"author"`
	Published   int64    `json:"published"`
	Updated     int64    `json:"updated"`
}

const (
	maxDiscipline = 100
	maxLink       = 2000
	maxClasses    = 50

	cataloguePublishRule = "Seuls les enseignants et les personnels du lycée, et les agents de la Région pour le catalogue régional, publient des ressources."
	catalogueClassRule   = "Un enseignant réserve une ressource aux classes où il enseigne."
	catalogueEditRule    = "Seuls l'auteur et les personnels du lycée modifient ou retirent une ressource ; les agents de la Région, celles du catalogue régional."
	catalogueNotFound    = "Ressource introuvable."
)

// CataloguePartition is where u publishes: the region's catalogue for
// Région staff, else their lycée's; "" for who publishes nowhere.
func CataloguePartition(u User) string {
	switch {
	case u.Profile == Region:
		return record.Region
	case u.UAI != "" && (u.Profile == Teacher || u.Profile == Personnel):
		return u.UAI
	}
	return ""
}

// CanPublishCatalogue reports whether u publishes resources.
func CanPublishCatalogue(u User) bool { return CataloguePartition(u) != "" }

// CanEditCatalogue reports whether u edits and retires it: Région staff
// the region's items; the author or the lycée's staff a lycée's item.
func CanEditCatalogue(u User, it CatalogueItem) bool {
	if it.Region() {
		return u.Profile == Region
	}
	return u.UAI != "" && u.UAI == it.Partition && u.Profile != Region &&
		(u.ID == it.AuthorID || u.Profile == Personnel || u.Admin)
}

// catalogueReads reports whether u, whose children are children
// (Relative), reads it.
func catalogueReads(u User, children []User, it CatalogueItem) bool {
	if it.Region() {
		return true // every user of the region
	}
	if u.UAI == "" || u.Profile == Region || it.Partition != u.UAI {
		return false
	}
	if len(it.Classes) == 0 || it.AuthorID == u.ID {
		return true
	}
	switch u.Profile {
	case Teacher, Personnel:
		return true
	case Student:
		return slices.ContainsFunc(it.Classes, func(c string) bool { return slices.Contains(u.Classes, c) })
	case Relative:
		for _, c := range children {
			if slices.Contains(u.Children, c.ID) && slices.ContainsFunc(it.Classes, func(k string) bool { return slices.Contains(c.Classes, k) }) {
				return true
			}
		}
	}
	return false
}

func trimCatalogue(a CatalogueArgs) CatalogueArgs {
	a.Title, a.Description = strings.TrimSpace(a.Title), strings.TrimSpace(a.Description)
	a.Discipline, a.Level, a.Link = strings.TrimSpace(a.Discipline), strings.TrimSpace(a.Level), strings.TrimSpace(a.Link)
	var classes []string
	for _, c := range a.Classes {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(classes, c) {
			classes = append(classes, c)
		}
	}
	slices.Sort(classes)
	a.Classes = classes
	return a
}

// validLink accepts an absolute http or https URL with a host.
func validLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= maxLink &&
		!strings.ContainsAny(s, " \t\r\n")
}

// checkCatalogue checks trimmed args for partition.
func checkCatalogue(a CatalogueArgs, partition string) error {
	switch {
	case !text(a.Title, maxTitle):
		return rejectInvalid("Le titre de la ressource est obligatoire.")
	case !optionalText(a.Description, maxBody):
		return rejectInvalid("La description est trop longue.")
	case !text(a.Discipline, maxDiscipline):
		return rejectInvalid("La discipline est obligatoire.")
	case !slices.Contains(CatalogueLevels, a.Level):
		return rejectInvalid("Choisissez un niveau : seconde, première, terminale, BTS ou tous.")
	case (a.File == nil) == (a.Link == ""):
		return rejectInvalid("Une ressource a soit un fichier, soit un lien (pas les deux).")
	case a.Link != "" && !validLink(a.Link):
		return rejectInvalid("Le lien doit être une adresse complète en http:// ou https://.")
	case len(a.Classes) > maxClasses:
		return rejectInvalid("Trop de classes.")
	case len(a.Classes) > 0 && partition == record.Region:
		return rejectInvalid("Le catalogue régional s'adresse à tous : il n'est pas réservé à des classes.")
	}
	for _, c := range a.Classes {
		if !text(c, maxClass) {
			return rejectInvalid("La classe est trop longue.")
		}
	}
	if a.File != nil {
		return CheckFileRef(*a.File)
	}
	return nil
}

// mayPublishIn reports the rule u breaks publishing a in partition, or "".
func mayPublishIn(u User, partition string, a CatalogueArgs) (rule string) {
	if CataloguePartition(u) != partition {
		return cataloguePublishRule
	}
	if u.Profile == Teacher {
		for _, c := range a.Classes {
			if !slices.Contains(u.Classes, c) {
				return catalogueClassRule
			}
		}
	}
	return ""
}

func execCataloguePublish(tx record.Tx, cmd record.Command) error {
	var a CatalogueArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if dup, err := existing(tx, cmd.Partition, a.ID, KindCatalogueItem); err != nil || dup {
		return err // a retransmission (even of an item retired since) is a no-op
	}
	a = trimCatalogue(a)
	if err := checkCatalogue(a, cmd.Partition); err != nil {
		return err
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return rejectForbidden(cataloguePublishRule)
	}
	if rule := mayPublishIn(author, cmd.Partition, a); rule != "" {
		return rejectForbidden(rule)
	}
	return putCatalogue(tx, cmd.Partition, a, catalogueBody{AuthorID: author.ID, Author: author.Name,
		Published: cmd.Time, Updated: cmd.Time})
}

// putCatalogue writes item a with the authorship and times of b.
func putCatalogue(tx record.Tx, partition string, a CatalogueArgs, b catalogueBody) error {
	b.Title, b.Description, b.Discipline, b.Level = a.Title, a.Description, a.Discipline, a.Level
	b.Classes, b.File, b.Link = a.Classes, a.File, a.Link
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: a.ID, Kind: KindCatalogueItem, Body: body})
}

func execCatalogueUpdate(tx record.Tx, cmd record.Command) error {
	var a CatalogueArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	rec, ok, err := tx.Get(cmd.Partition, a.ID)
	if err != nil {
		return err
	}
	if !ok || rec.Kind != KindCatalogueItem {
		return record.Reject("not_found", catalogueNotFound)
	}
	if rec.Deleted {
		return nil // retired since: the edit has nothing left to change
	}
	var b catalogueBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return fmt.Errorf("decode catalogue item %s: %w", rec.ID, err)
	}
	a = trimCatalogue(a)
	if err := checkCatalogue(a, cmd.Partition); err != nil {
		return err
	}
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	it := catalogueItem(rec, b)
	if !ok || !CanEditCatalogue(u, it) {
		return rejectForbidden(catalogueEditRule)
	}
	if u.Profile == Teacher && u.ID == b.AuthorID {
		if rule := mayPublishIn(u, cmd.Partition, a); rule != "" {
			return rejectForbidden(rule)
		}
	}
	if cmd.Time <= b.Updated {
		return nil // an older edit, or this one again: the stored item is newer or the same
	}
	b.Updated = cmd.Time
	return putCatalogue(tx, cmd.Partition, a, b)
}

func execCatalogueRetire(tx record.Tx, cmd record.Command) error {
	rec, err := deletionTarget(tx, cmd, catalogueNotFound, KindCatalogueItem)
	if err != nil {
		return err
	}
	if rec.Deleted {
		return nil // already retired: a retransmission
	}
	it, err := decodeCatalogue(rec)
	if err != nil {
		return err
	}
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanEditCatalogue(u, it) {
		return rejectForbidden(catalogueEditRule)
	}
	rec.Deleted, rec.Body = true, nil
	return tx.Put(rec)
}

func catalogueItem(rec record.Record, b catalogueBody) CatalogueItem {
	return CatalogueItem{ID: rec.ID, Partition: rec.Partition, Title: b.Title, Description: b.Description,
		Discipline: b.Discipline, Level: b.Level, Classes: b.Classes, File: b.File, Link: b.Link,
		AuthorID: b.AuthorID, Author: b.Author, Published: time.UnixMilli(b.Published), Updated: time.UnixMilli(b.Updated)}
}

func decodeCatalogue(rec record.Record) (CatalogueItem, error) {
	var b catalogueBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return CatalogueItem{}, fmt.Errorf("decode catalogue item %s: %w", rec.ID, err)
	}
	return catalogueItem(rec, b), nil
}

// liveCatalogue returns the live item id of partition, or ok=false.
func liveCatalogue(r record.Reader, partition, id string) (CatalogueItem, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindCatalogueItem {
		return CatalogueItem{}, false, err
	}
	it, err := decodeCatalogue(rec)
	return it, err == nil, err
}

func (f CatalogueFilter) matches(it CatalogueItem) bool {
	if f.Discipline != "" && !strings.EqualFold(strings.TrimSpace(f.Discipline), it.Discipline) {
		return false
	}
	return f.Level == "" || it.Level == f.Level || it.Level == LevelAll
}

// ListCatalogue returns the items of the region's catalogue and of u's
// lycée that u reads and f selects, the latest first.
func (s *Service) ListCatalogue(ctx context.Context, u User, f CatalogueFilter) (region, lycee []CatalogueItem, err error) {
	err = s.store.View(func(r record.Reader) error {
		children, err := childrenOf(r, u)
		if err != nil {
			return err
		}
		scan := func(partition string, out *[]CatalogueItem) error {
			return r.Scan(partition, KindCatalogueItem, func(rec record.Record) error {
				it, err := decodeCatalogue(rec)
				if err != nil {
					return err
				}
				if catalogueReads(u, children, it) && f.matches(it) {
					*out = append(*out, it)
				}
				return nil
			})
		}
		if err := scan(record.Region, &region); err != nil {
			return err
		}
		if u.UAI == "" || u.Profile == Region {
			return nil
		}
		return scan(u.UAI, &lycee)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list catalogue: %w", err)
	}
	sortCatalogue(region)
	sortCatalogue(lycee)
	return region, lycee, nil
}

func sortCatalogue(its []CatalogueItem) {
	sort.SliceStable(its, func(i, j int) bool {
		if !its[i].Published.Equal(its[j].Published) {
			return its[i].Published.After(its[j].Published)
		}
		return its[i].ID > its[j].ID
	})
}

// GetCatalogueItem returns item id, of the region's catalogue or of u's
// lycée, if u reads it; else ErrNotFound.
func (s *Service) GetCatalogueItem(ctx context.Context, u User, id string) (CatalogueItem, error) {
	var it CatalogueItem
	var found bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		if it, found, err = liveCatalogue(r, record.Region, id); err != nil || found {
			return err
		}
		if u.UAI == "" || u.Profile == Region {
			return nil
		}
		if it, found, err = liveCatalogue(r, u.UAI, id); err != nil || !found {
			return err
		}
		children, err := childrenOf(r, u)
		if err != nil {
			return err
		}
		found = catalogueReads(u, children, it)
		return nil
	})
	if err != nil {
		return CatalogueItem{}, fmt.Errorf("get catalogue item: %w", err)
	}
	if !found {
		return CatalogueItem{}, ErrNotFound
	}
	return it, nil
}

// CatalogueDisciplines returns the disciplines a form proposes to u: their
// subjects and the disciplines of the items u reads, sorted.
func (s *Service) CatalogueDisciplines(ctx context.Context, u User) ([]string, error) {
	region, lycee, err := s.ListCatalogue(ctx, u, CatalogueFilter{})
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, d := range u.Subjects {
		seen[d] = true
	}
	for _, it := range append(region, lycee...) {
		seen[it.Discipline] = true
	}
	return sortedNames(seen), nil
}

// PublishCatalogue publishes a resource by u in CataloguePartition(u)
// (a.ID is minted when ""). A file must have been stored there first
// (StoreFile). Refusals are *record.Rejection.
func (s *Service) PublishCatalogue(ctx context.Context, u User, a CatalogueArgs) (CatalogueItem, error) {
	partition := CataloguePartition(u)
	if partition == "" {
		return CatalogueItem{}, rejectForbidden(cataloguePublishRule)
	}
	a = trimCatalogue(a)
	if err := checkCatalogue(a, partition); err != nil {
		return CatalogueItem{}, err
	}
	if rule := mayPublishIn(u, partition, a); rule != "" {
		return CatalogueItem{}, rejectForbidden(rule)
	}
	if a.ID == "" {
		a.ID = record.NewID()
	}
	at := s.now()
	if err := s.submit(ctx, u, OpCataloguePublish, partition, a, at); err != nil {
		return CatalogueItem{}, err
	}
	ms := time.UnixMilli(at.UnixMilli())
	return CatalogueItem{ID: a.ID, Partition: partition, Title: a.Title, Description: a.Description,
		Discipline: a.Discipline, Level: a.Level, Classes: a.Classes, File: a.File, Link: a.Link,
		AuthorID: u.ID, Author: u.Name, Published: ms, Updated: ms}, nil
}

// UpdateCatalogue replaces item a.ID with a. With neither a file nor a
// link in a, the item keeps its own. An item u cannot read is ErrNotFound;
// one u may not edit is refused ("forbidden").
func (s *Service) UpdateCatalogue(ctx context.Context, u User, a CatalogueArgs) (CatalogueItem, error) {
	it, err := s.GetCatalogueItem(ctx, u, a.ID)
	if err != nil {
		return CatalogueItem{}, err
	}
	if !CanEditCatalogue(u, it) {
		return CatalogueItem{}, rejectForbidden(catalogueEditRule)
	}
	a = trimCatalogue(a)
	if a.File == nil && a.Link == "" {
		a.File, a.Link = it.File, it.Link
	}
	if err := checkCatalogue(a, it.Partition); err != nil {
		return CatalogueItem{}, err
	}
	if u.Profile == Teacher && u.ID == it.AuthorID {
		if rule := mayPublishIn(u, it.Partition, a); rule != "" {
			return CatalogueItem{}, rejectForbidden(rule)
		}
	}
	at := s.now()
	if err := s.submit(ctx, u, OpCatalogueUpdate, it.Partition, a, at); err != nil {
		return CatalogueItem{}, err
	}
	it.Title, it.Description, it.Discipline, it.Level = a.Title, a.Description, a.Discipline, a.Level
	it.Classes, it.File, it.Link, it.Updated = a.Classes, a.File, a.Link, time.UnixMilli(at.UnixMilli())
	return it, nil
}

// RetireCatalogue retires item id. An item u cannot read is ErrNotFound;
// one u may not retire is refused ("forbidden").
func (s *Service) RetireCatalogue(ctx context.Context, u User, id string) error {
	it, err := s.GetCatalogueItem(ctx, u, id)
	if err != nil {
		return err
	}
	if !CanEditCatalogue(u, it) {
		return rejectForbidden(catalogueEditRule)
	}
	return s.submit(ctx, u, OpCatalogueRetire, it.Partition, CatalogueRetireArgs{ID: id}, s.now())
}

// CatalogueClasses returns the classes u may restrict a lycée's item to:
// a teacher's classes, every class of the lycée for its staff; none for
// Région staff (the region's catalogue is for all).
func (s *Service) CatalogueClasses(ctx context.Context, u User) ([]string, error) {
	if CataloguePartition(u) == record.Region {
		return nil, nil
	}
	return s.BlogClasses(ctx, u) // the same rule as the blog's audiences
}

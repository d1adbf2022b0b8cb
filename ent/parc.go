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
)

// Gestion de parc: the inventory of a lycée's equipment. The lycée's staff
// (Personnel) record assets and change them; its teachers read the
// inventory; students, relatives and Région staff see nothing of it.
//
// An asset is a record of kind KindAsset in its lycée's partition, keyed
// by "UAI/NUMBER" so that an inventory number is unique in its lycée
// (ByKey looks in every partition a store holds). The asset carries a
// revision (1 when created, +1 per change) and its history. A change names
// the revision it starts from (its base): a change whose base is no longer
// the asset's revision is refused as a conflict, so two staff members
// editing an asset on either side of a cut never silently overwrite each
// other. History entries carry the command's id, which makes a
// retransmitted change a no-op; a retransmitted creation is a no-op by the
// asset's id.

// Asset kinds, as stored and as the API names them.
const (
	AssetComputer  = "ordinateur"
	AssetProjector = "videoprojecteur"
	AssetTablet    = "tablette"
	AssetPrinter   = "imprimante"
	AssetNetwork   = "reseau"
	AssetOther     = "autre"
)

// Asset states, as stored and as the API names them.
const (
	AssetInService = "en-service"
	AssetBroken    = "en-panne"
	AssetRepair    = "en-reparation"
	AssetRetired   = "reforme"
)

// AssetKinds returns the kinds of an asset, in the forms' order.
func AssetKinds() []Choice {
	return []Choice{
		{AssetComputer, "Ordinateur"}, {AssetProjector, "Vidéoprojecteur"}, {AssetTablet, "Tablette"},
		{AssetPrinter, "Imprimante"}, {AssetNetwork, "Réseau"}, {AssetOther, "Autre"},
	}
}

// AssetStates returns the states of an asset, in their usual order.
func AssetStates() []Choice {
	return []Choice{
		{AssetInService, "En service"}, {AssetBroken, "En panne"}, {AssetRepair, "En réparation"}, {AssetRetired, "Réformé"},
	}
}

// AssetKindLabel returns the French label of a kind code.
func AssetKindLabel(code string) string { l, _ := choiceLabel(AssetKinds(), code); return l }

// AssetStateLabel returns the French label of a state code.
func AssetStateLabel(code string) string { l, _ := choiceLabel(AssetStates(), code); return l }

// AssetFields are what staff write about an asset: the arguments of a
// creation, and of a change (whose Number must be the asset's: an
// inventory number never changes).
type AssetFields struct {
	Number    string `json:"number"`              // numéro d'inventaire, unique in the lycée
	Kind      string `json:"kind"`                // AssetComputer…
	Model     string `json:"model"`               // marque et modèle
	Location  string `json:"location"`            // salle
	State     string `json:"state"`               // AssetInService…
	Purchased string `json:"purchased,omitempty"` // date d'achat AAAA-MM-JJ, optional
}

// Asset is an item of a lycée's inventory (Partition is its UAI).
type Asset struct {
	ID        string
	Partition string
	AssetFields
	Revision int
	// History lists the asset's creation and changes, oldest first.
	History []AssetChange
}

// KindLabel is the French label of the asset's kind.
func (a Asset) KindLabel() string { return AssetKindLabel(a.Kind) }

// StateLabel is the French label of the asset's state.
func (a Asset) StateLabel() string { return AssetStateLabel(a.State) }

// Updated is when the asset last changed.
func (a Asset) Updated() time.Time {
	if n := len(a.History); n > 0 {
		return a.History[n-1].At
	}
	return time.Time{}
}

// AssetChange is an entry of an asset's history: who did what, when.
type AssetChange struct {
	ID       string // the command's id: a retransmission is a no-op
	Revision int    // the revision it made
	ByID     string
	ByName   string
	At       time.Time
	What     []string // in French: "État : En service → En panne"
}

// AssetCreateArgs are the arguments of "asset.create"; the partition is the
// command's, the lycée's.
type AssetCreateArgs struct {
	ID string `json:"id"`
	AssetFields
}

// AssetUpdateArgs are the arguments of "asset.update": the asset goes
// from revision Base, which must be its current one, to the fields given.
type AssetUpdateArgs struct {
	ID    string `json:"id"` // the change's id, minted once at the origin
	Asset string `json:"asset"`
	Base  int    `json:"base"`
	AssetFields
}

type assetBody struct {
	AssetFields
	Revision int               `json:"revision"`
	History  []assetChangeBody `json:"history"`
}

type assetChangeBody struct {
	ID       string   `json:"id"`
	Revision int      `json:"revision"`
	ByID     string   `json:"byId"`
	ByName   string   `json:"byName"`
	At       int64    `json:"at"`
	What     []string `json:"what"`
}

// Limits of the inventory.
const (
	maxAssetNumber  = 40
	maxAssetText    = 200
	maxAssetHistory = 500
)

// CanSeeAssets reports whether u reads their lycée's inventory: its staff
// and teachers.
func CanSeeAssets(u User) bool {
	return u.UAI != "" && (u.Profile == Personnel || u.Profile == Teacher)
}

// CanManageAssets reports whether u records and changes assets: the
// lycée's staff.
func CanManageAssets(u User) bool { return u.UAI != "" && u.Profile == Personnel }

func errAssetsForbidden() error {
	return rejectForbidden("Seuls les personnels du lycée enregistrent et modifient le matériel du parc.")
}

func errNoAsset() error {
	return record.Reject("not_found", "Matériel introuvable dans l'inventaire.")
}

// assetKey is the record key of inventory number n in lycée uai.
func assetKey(uai, n string) string { return uai + "/" + strings.ToUpper(strings.TrimSpace(n)) }

// normalize trims what users typed.
func (f AssetFields) normalize() AssetFields {
	f.Number = strings.ToUpper(strings.TrimSpace(f.Number))
	f.Model, f.Location = strings.TrimSpace(f.Model), strings.TrimSpace(f.Location)
	f.Purchased = strings.TrimSpace(f.Purchased)
	return f
}

// checkAsset checks normalized fields.
func checkAsset(f AssetFields) error {
	if !text(f.Number, maxAssetNumber) || strings.ContainsAny(f.Number, "/ \t\r\n") {
		return rejectInvalid("Le numéro d'inventaire est obligatoire (40 caractères au plus, sans espace ni « / »).")
	}
	if _, ok := choiceLabel(AssetKinds(), f.Kind); !ok {
		return rejectInvalid("Type inconnu : choisissez ordinateur, vidéoprojecteur, tablette, imprimante, réseau ou autre.")
	}
	if _, ok := choiceLabel(AssetStates(), f.State); !ok {
		return rejectInvalid("État inconnu : choisissez en service, en panne, en réparation ou réformé.")
	}
	if !text(f.Model, maxAssetText) || !text(f.Location, maxAssetText) {
		return rejectInvalid("La marque et le modèle, et la salle, sont obligatoires.")
	}
	if f.Purchased != "" {
		if _, err := time.Parse(time.DateOnly, f.Purchased); err != nil {
			return rejectInvalid("Date d'achat invalide : écrivez-la AAAA-MM-JJ.")
		}
	}
	return nil
}

// assetIn reads asset id of partition; ok=false if there is none.
func assetIn(r record.Reader, partition, id string) (assetBody, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindAsset {
		return assetBody{}, false, err
	}
	var b assetBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return assetBody{}, false, fmt.Errorf("decode asset %s: %w", id, err)
	}
	return b, true, nil
}

func putAsset(tx record.Tx, partition, id string, b assetBody) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: partition, ID: id, Kind: KindAsset, Key: assetKey(partition, b.Number), Body: body})
}

// assetAuthor returns the active staff member who made cmd, or refuses.
func assetAuthor(tx record.Tx, cmd record.Command) (User, error) {
	by, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return User{}, err
	}
	if !ok || !CanManageAssets(by) {
		return User{}, errAssetsForbidden()
	}
	return by, nil
}

func execAssetCreate(tx record.Tx, cmd record.Command) error {
	var a AssetCreateArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Partition == record.Region || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindAsset); done || err != nil {
		return err // already created: a retransmission
	}
	by, err := assetAuthor(tx, cmd)
	if err != nil {
		return err
	}
	f := a.AssetFields.normalize()
	if err := checkAsset(f); err != nil {
		return err
	}
	if _, taken, err := tx.ByKey(KindAsset, assetKey(cmd.Partition, f.Number)); err != nil || taken {
		if err != nil {
			return err
		}
		return record.Reject("conflict", "Le numéro d'inventaire "+f.Number+" est déjà utilisé dans ce lycée.")
	}
	b := assetBody{AssetFields: f, Revision: 1, History: []assetChangeBody{{
		ID: a.ID, Revision: 1, ByID: by.ID, ByName: by.Name, At: cmd.Time, What: []string{"Création de la fiche"},
	}}}
	return putAsset(tx, cmd.Partition, a.ID, b)
}

func execAssetUpdate(tx record.Tx, cmd record.Command) error {
	var a AssetUpdateArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.Asset) || cmd.Partition == "" || cmd.Partition == record.Region || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	cur, ok, err := assetIn(tx, cmd.Partition, a.Asset)
	if err != nil {
		return err
	}
	if ok && slices.ContainsFunc(cur.History, func(c assetChangeBody) bool { return c.ID == a.ID }) {
		return nil // already applied: a retransmission
	}
	by, err := assetAuthor(tx, cmd)
	if err != nil {
		return err
	}
	if !ok {
		return errNoAsset()
	}
	next, what, err := checkAssetChange(cur, a.Base, a.AssetFields)
	if err != nil {
		return err
	}
	if len(cur.History) >= maxAssetHistory {
		return rejectInvalid("L'historique de ce matériel est plein : enregistrez-le sous un nouveau numéro.")
	}
	next.Revision = cur.Revision + 1
	next.History = append(cur.History, assetChangeBody{ID: a.ID, Revision: next.Revision, ByID: by.ID, ByName: by.Name, At: cmd.Time, What: what})
	return putAsset(tx, cmd.Partition, a.Asset, next)
}

// checkAssetChange checks a change of cur from revision base to fields f:
// base must be cur's revision, the number must stay, something must
// change. It returns the new body (without revision and history) and what
// changed, in French.
func checkAssetChange(cur assetBody, base int, f AssetFields) (assetBody, []string, error) {
	if base != cur.Revision {
		last := cur.History[len(cur.History)-1]
		return assetBody{}, nil, record.Reject("conflict", fmt.Sprintf(
			"Ce matériel a été modifié entre-temps par %s : il en est à la version %d (vous partiez de la version %d). Votre modification n'a pas été appliquée : relisez la fiche avant de la modifier.",
			last.ByName, cur.Revision, base))
	}
	f = f.normalize()
	if f.Number == "" {
		f.Number = cur.Number
	}
	if f.Number != cur.Number {
		return assetBody{}, nil, rejectInvalid("Le numéro d'inventaire d'un matériel ne change pas.")
	}
	if err := checkAsset(f); err != nil {
		return assetBody{}, nil, err
	}
	var what []string
	diff := func(label, from, to string) {
		if from != to {
			if from == "" {
				from = "—"
			}
			if to == "" {
				to = "—"
			}
			what = append(what, label+" : "+from+" → "+to)
		}
	}
	diff("Type", AssetKindLabel(cur.Kind), AssetKindLabel(f.Kind))
	diff("Marque et modèle", cur.Model, f.Model)
	diff("Salle", cur.Location, f.Location)
	diff("État", AssetStateLabel(cur.State), AssetStateLabel(f.State))
	diff("Date d'achat", cur.Purchased, f.Purchased)
	if len(what) == 0 {
		return assetBody{}, nil, rejectInvalid("Aucune modification : la fiche est déjà ainsi.")
	}
	return assetBody{AssetFields: f}, what, nil
}

func decodeAsset(rec record.Record) (Asset, error) {
	var b assetBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return Asset{}, fmt.Errorf("decode asset %s: %w", rec.ID, err)
	}
	a := Asset{ID: rec.ID, Partition: rec.Partition, AssetFields: b.AssetFields, Revision: b.Revision}
	for _, c := range b.History {
		a.History = append(a.History, AssetChange{ID: c.ID, Revision: c.Revision, ByID: c.ByID, ByName: c.ByName,
			At: time.UnixMilli(c.At), What: c.What})
	}
	return a, nil
}

// ListAssets returns the inventory of u's lycée (staff and teachers; nil
// for anyone else), by inventory number; kind and state, unless "", keep
// only the assets of that kind or state.
func (s *Service) ListAssets(ctx context.Context, u User, kind, state string) ([]Asset, error) {
	if !CanSeeAssets(u) {
		return nil, nil
	}
	var out []Asset
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(u.UAI, KindAsset, func(rec record.Record) error {
			a, err := decodeAsset(rec)
			if err != nil {
				return err
			}
			if (kind == "" || a.Kind == kind) && (state == "" || a.State == state) {
				out = append(out, a)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// GetAsset returns asset id of u's lycée with its history, or ErrNotFound
// (also to users who do not see the inventory).
func (s *Service) GetAsset(ctx context.Context, u User, id string) (Asset, error) {
	if !CanSeeAssets(u) {
		return Asset{}, ErrNotFound
	}
	var a Asset
	var found bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(u.UAI, id)
		if err != nil || !ok || rec.Deleted || rec.Kind != KindAsset {
			return err
		}
		found = true
		a, err = decodeAsset(rec)
		return err
	})
	if err != nil {
		return Asset{}, fmt.Errorf("get asset: %w", err)
	}
	if !found {
		return Asset{}, ErrNotFound
	}
	return a, nil
}

// CreateAsset records an asset in u's lycée; u is one of its staff.
// Refusals are *record.Rejection (a number already used: "conflict").
func (s *Service) CreateAsset(ctx context.Context, u User, f AssetFields) (Asset, error) {
	if !CanManageAssets(u) {
		return Asset{}, errAssetsForbidden()
	}
	f = f.normalize()
	if err := checkAsset(f); err != nil {
		return Asset{}, err
	}
	at := s.now()
	a := Asset{ID: record.NewID(), Partition: u.UAI, AssetFields: f, Revision: 1}
	if err := s.submit(ctx, u, OpAssetCreate, u.UAI, AssetCreateArgs{ID: a.ID, AssetFields: f}, at); err != nil {
		return Asset{}, err
	}
	a.History = []AssetChange{{ID: a.ID, Revision: 1, ByID: u.ID, ByName: u.Name, At: time.UnixMilli(at.UnixMilli()), What: []string{"Création de la fiche"}}}
	return a, nil
}

// UpdateAsset changes asset id from revision base (the one u read) to f;
// u is one of the lycée's staff. A base that is no longer the asset's
// revision is refused ("conflict"). It returns the asset as changed.
func (s *Service) UpdateAsset(ctx context.Context, u User, id string, base int, f AssetFields) (Asset, error) {
	if !CanManageAssets(u) {
		return Asset{}, errAssetsForbidden()
	}
	a, err := s.GetAsset(ctx, u, id)
	if errors.Is(err, ErrNotFound) {
		return Asset{}, errNoAsset()
	}
	if err != nil {
		return Asset{}, err
	}
	cur := assetBody{AssetFields: a.AssetFields, Revision: a.Revision}
	for _, c := range a.History {
		cur.History = append(cur.History, assetChangeBody{ByName: c.ByName, At: c.At.UnixMilli()})
	}
	next, what, err := checkAssetChange(cur, base, f)
	if err != nil {
		return Asset{}, err
	}
	at := s.now()
	change := record.NewID()
	if err := s.submit(ctx, u, OpAssetUpdate, u.UAI, AssetUpdateArgs{ID: change, Asset: id, Base: base, AssetFields: next.AssetFields}, at); err != nil {
		return Asset{}, err
	}
	a.AssetFields, a.Revision = next.AssetFields, a.Revision+1
	a.History = append(a.History, AssetChange{ID: change, Revision: a.Revision, ByID: u.ID, ByName: u.Name, At: time.UnixMilli(at.UnixMilli()), What: what})
	return a, nil
}

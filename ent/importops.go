package ent

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"atrium/record"

	"github.com/google/uuid"
)

// The commands of a directory import (package importer builds them). All
// are operator commands: only central's import writes the directory.

// UserImportArgs are the arguments of "user.import": a person as the
// académie's directory describes them. The directory owns the identity
// fields (name, profile, lycée, classes, children, …); the account's life
// (password, activation code, activity) belongs to the ENT and is kept from
// the stored account, so an import never undoes an activation that
// happened meanwhile. User.ActivationHash is used only when the account is
// new.
type UserImportArgs struct {
	User User `json:"user"`
	// From is the partition that held the account before, when the person
	// moves from one lycée to another; "" otherwise.
	From string `json:"from,omitempty"`
}

func execUserImport(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul l'import de l'annuaire écrit les comptes de l'annuaire.")
	}
	var a UserImportArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	u := a.User
	if u.PasswordHash != "" || u.Profile == Region || u.JoinKey == "" {
		return rejectInvalid("Un compte importé n'a ni mot de passe ni profil régional, et a une clé de jointure.")
	}
	if u.MissingSince != 0 {
		// The directory no longer lists them: their children may have
		// left or moved meanwhile (in this very import). Keep those who
		// are still students here.
		kept := u.Children[:0:0]
		for _, c := range u.Children {
			child, ok, err := liveUser(tx, cmd.Partition, c)
			if err != nil {
				return err
			}
			if ok && child.Profile == Student {
				kept = append(kept, c)
			}
		}
		u.Children = kept
	}
	if err := checkUser(tx, cmd, u); err != nil {
		return err
	}
	from := cmd.Partition
	if a.From != "" {
		from = a.From
	}
	old, had, err := liveUser(tx, from, u.ID)
	if err != nil {
		return err
	}
	if !had && from != cmd.Partition {
		// Replayed after the move: the account is already in its new lycée.
		from = cmd.Partition
		if old, had, err = liveUser(tx, from, u.ID); err != nil {
			return err
		}
	}
	prev, ok, err := tx.ByKey(KindUser, u.Login)
	if err != nil {
		return err
	}
	if ok && prev.ID != u.ID {
		return record.Reject("conflict", "L'identifiant de connexion "+u.Login+" est déjà utilisé.")
	}
	if had {
		u.PasswordHash, u.ActivationHash = old.PasswordHash, old.ActivationHash
	}
	u.Active = u.PasswordHash != "" && u.ActivationHash == "" && !u.Departed
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	if had && from != cmd.Partition {
		gone, _, err := tx.Get(from, u.ID)
		if err != nil {
			return err
		}
		gone.Deleted, gone.Body = true, nil
		if err := tx.Put(gone); err != nil {
			return err
		}
	} else if had {
		cur, _, err := tx.Get(from, u.ID)
		if err != nil {
			return err
		}
		if bytes.Equal(cur.Body, body) {
			return nil // unchanged: the same set twice changes nothing
		}
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: u.ID, Kind: KindUser, Key: u.Login, Body: body})
}

// DirectoryEntry is one entry of an académie's directory view as the
// import keeps it (see directory.Entry): a structure, subject, MEF or
// person and the attributes the view needs to apply later Delta sets.
type DirectoryEntry struct {
	Category string              `json:"category"`
	ID       string              `json:"id"`
	Attrs    map[string][]string `json:"attrs,omitempty"`
}

// DirectoryBuckets is how many records hold an académie's view: entries
// are spread over them by a hash of their category and id, and each
// record holds its entries compressed. A region's view (hundreds of
// thousands of people) then costs a few hundred records, not one raft
// write per person, and a bucket nothing changed in is not written again.
const DirectoryBuckets = 64

// DirectoryArgs are the arguments of "directory.entries": one bucket of
// an académie's view, stored as its record's body. Data is the gzip of
// the bucket's entries, one JSON object per line, in (category, id)
// order; Hash the hex SHA-256 of those lines, so that an import compares
// buckets without decompressing them. Count zero with no Data empties the
// bucket.
type DirectoryArgs struct {
	Academie string `json:"academie"`
	Bucket   int    `json:"bucket"`
	Count    int    `json:"count"`
	Hash     string `json:"hash"`
	Data     []byte `json:"data,omitempty"`
}

// directoryNamespace names the ids of the view's buckets (UUIDv5).
var directoryNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://atrium.region/directory-bucket"))

// DirectoryBucketID is the record id of a bucket of the académie's view.
func DirectoryBucketID(academie string, bucket int) string {
	return uuid.NewSHA1(directoryNamespace, []byte(academie+"\x00"+strconv.Itoa(bucket))).String()
}

// maxDirectoryBucket bounds a bucket's compressed data (a region's
// largest académie needs about a megabyte per bucket).
const maxDirectoryBucket = 32 << 20

func execDirectoryEntries(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul l'import de l'annuaire écrit la vue de l'annuaire.")
	}
	var a DirectoryArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	switch {
	case a.Academie == "" || strings.ContainsAny(a.Academie, ": \t\r\n") || cmd.Partition != DirectoryPartition(a.Academie):
		return rejectInvalid("Académie invalide pour la vue de l'annuaire.")
	case a.Bucket < 0 || a.Bucket >= DirectoryBuckets || a.Count < 0 || len(a.Data) > maxDirectoryBucket:
		return rejectInvalid("Partie de la vue de l'annuaire invalide.")
	case len(a.Hash) != 64 || (a.Count == 0) != (len(a.Data) == 0):
		return rejectInvalid("Partie de la vue de l'annuaire invalide.")
	}
	id := DirectoryBucketID(a.Academie, a.Bucket)
	cur, ok, err := tx.Get(cmd.Partition, id)
	if err != nil {
		return err
	}
	if ok && !cur.Deleted && bytes.Equal(cur.Body, cmd.Args) {
		return nil
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: id, Kind: KindDirectoryEntry, Body: cmd.Args})
}

// ImportReportArgs are the arguments of "import.report": the report of an
// import run, stored in CentralPartition under a UUIDv7 minted by the run.
type ImportReportArgs struct {
	ID     string          `json:"id"`
	Report json.RawMessage `json:"report"`
}

const maxReport = 8 << 20

func execImportReport(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul l'import de l'annuaire enregistre ses rapports.")
	}
	var a ImportReportArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition != CentralPartition || len(a.Report) == 0 || len(a.Report) > maxReport || !json.Valid(a.Report) {
		return rejectInvalid("Rapport d'import invalide.")
	}
	if done, err := existing(tx, CentralPartition, a.ID, KindImportReport); done || err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: CentralPartition, ID: a.ID, Kind: KindImportReport, Body: a.Report})
}

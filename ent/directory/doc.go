// Package directory maps the académies' AAF exports onto the ENT's
// accounts: the pure, deterministic core of the AAF import. It owns no I/O,
// no network and no clock; the importer that reads the files (package
// aaf's Reader) and sends user.put commands to central is built on it.
//
// An Import is one académie's view of its people. Apply consumes the
// operations of a set (a Complet or a daily Delta) in aaf.CategoryOrder;
// SetFile names the file being applied, so that problems carry it, and
// starts a new set when the file belongs to another one (a new Complet
// replaces the whole view; a Delta applies on top of it).
//
// Identity. People are keyed by académie: the join key is
// ACADEMIE + ":" + the AAF identifier id (the <id> of the operation), for
// instance "AIX-MARSEILLE:1000001". The identifier id is what every
// cross-reference of the export uses (ENTElevePersRelEleve,
// ENTAuxPersRelEleveEleve), so it is the key; ENTPersonJointure is kept in
// the view as the attribute CAS services expect. A user's ID is the UUID
// (version 5, SHA-1, in an Atrium namespace) of the join key: the same
// person keeps the same id across runs and nodes. Logins are prenom.nom
// in lower-case ASCII, with a numeric suffix (2, 3, …) on collision; the
// logins of already known users (Reserve) are kept and never given to
// anyone else.
//
// Profiles: Eleve is Student, PersRelEleve is Relative, PersEducNat is
// Teacher when its title is ENS or one of its ENTPersonFonctions says ENS
// or ENSEIGNEMENT, Personnel otherwise.
//
// The view keeps, for each person, only the attributes its Person is made
// of (the others are dropped on Apply), packed in one string per person;
// People, Users and Warnings derive and resolve the people on each call.
// Users fills the directory fields of ent.User (JoinKey, Jointure,
// Surname, GivenName, BirthDate, Classes, Subjects, Functions, and Admin
// for the direction). Entries lists the view as entries and Load seeds
// a view with them: the importer persists the view at central and loads
// it before applying a daily Delta set on top.
//
// Problems are collected, never fatal: a malformed record (no surname, an
// invalid UAI, an id used by two categories) is rejected and skipped; a
// reference to a person missing from the set is a warning. Apply returns an
// error only when the input cannot be applied at all (unknown or
// out-of-order category).
//
// This package imports the standard library, github.com/google/uuid and
// atrium/ent, atrium/ent/aaf and atrium/ent/uai; it must not import
// central/, edge/, replication/, node/ or portal/. An Import is not safe
// for concurrent use (even its read methods reuse scratch buffers); Diff
// is a pure function.
package directory

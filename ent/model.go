package ent

import (
	"time"

	"atrium/record"
)

// Profiles of the ENT's users.
const (
	Student   = "Student"   // élève
	Relative  = "Relative"  // parent or legal guardian
	Teacher   = "Teacher"   // enseignant
	Personnel = "Personnel" // non-teaching staff of a lycée
	Region    = "Region"    // Région staff, in partition record.Region
)

// Record kinds owned by this package.
const (
	KindUser    = "user"
	KindLycee   = "lycee"
	KindNews    = "news"
	KindMessage = "message"
	// KindCASService is a service of the CAS registry, in record.Region,
	// keyed by its name: every edge receives the registry.
	KindCASService = "cas.service"
	// KindAudit is an entry of the audit trail, in record.AuditPartition.
	KindAudit = "audit"
	// KindImportReport is the stored report of a directory import run, in
	// CentralPartition.
	KindImportReport = "import.report"
	// KindDirectoryEntry is one entry of an académie's directory view, in
	// DirectoryPartition(académie).
	KindDirectoryEntry = "directory.entry"
	// KindTicket and KindTicketComment are the assistance's tickets and
	// their comments (assistance.go), in the lycée's partition.
	KindTicket        = "ticket"
	KindTicketComment = "ticket.comment"
	// KindHomework is an entry of a class's cahier de textes (homework.go),
	// in the lycée's partition.
	KindHomework = "homework"
	// KindAbsence is an absence or a lateness of a student (absences.go),
	// in the lycée's partition.
	KindAbsence = "absence"
	// KindResource and KindBooking are the rooms and equipment of a lycée
	// and their bookings (reservation.go), in the lycée's partition.
	KindResource = "resource"
	KindBooking  = "booking"
	// KindEvaluation and KindGrade are a class's evaluations and their
	// grades (notes.go), in the lycée's partition.
	KindEvaluation = "evaluation"
	KindGrade      = "grade"
	// KindForum, KindForumTopic and KindForumPost are the lycée's forums,
	// their topics and replies (forum.go), in the lycée's partition.
	KindForum      = "forum"
	KindForumTopic = "forum.topic"
	KindForumPost  = "forum.post"
	// KindBlogPost and KindBlogComment are the posts of a lycée's blog and
	// their comments (blog.go), in the lycée's partition.
	KindBlogPost    = "blog.post"
	KindBlogComment = "blog.comment"
	// KindAsset is an item of a lycée's inventory (parc.go), in the lycée's
	// partition.
	KindAsset = "asset"
	// KindFileChunk is a chunk of a stored file (files.go), in the
	// partition of the record that uses the file; its id is ChunkID.
	KindFileChunk = "file.chunk"
	// KindSpace, KindSpaceDocument and KindSpaceVersion are the espaces
	// collaboratifs (espaces.go): created spaces (class spaces have no
	// record), their documents and the documents' versions, in the lycée's
	// partition.
	KindSpace         = "space"
	KindSpaceDocument = "space.document"
	KindSpaceVersion  = "space.version"
	// KindCatalogueItem is a resource of a catalogue (catalogue.go), in
	// record.Region (the region's catalogue) or a lycée's partition.
	KindCatalogueItem = "catalogue.item"
	// KindRegionDraft is a proposal of modification of a region record
	// (drafts.go), in the lycée partition of its author.
	KindRegionDraft = "region.draft"
)

// CentralPartition holds what only central keeps: the reports of directory
// imports. No edge ever receives it.
const CentralPartition = "central"

// DirectoryPartition holds the view of an académie's directory that the
// last imports built ("directory:" and the académie), so that a Delta set
// applies on top of it. Central only.
func DirectoryPartition(academie string) string { return "directory:" + academie }

// Operations of Exec. Their names are part of the replicated log and of the
// edges' outboxes: only ever append.
const (
	OpUserPut     = "user.put"
	OpLyceePut    = "lycee.put"
	OpNewsPublish = "news.publish"
	OpMessageSend = "message.send"
	// Directory and identity (issue "Directory and identity").
	OpUserImport      = "user.import"       // operator: a user as the académie's directory describes them
	OpDirectoryPut    = "directory.entries" // operator: the directory's view, kept for Delta sets
	OpAccountActivate = "account.activate"  // anyone holding the activation code
	OpAccountPassword = "account.password"  // the user, changing their own password
	OpAccountReset    = "account.reset"     // a lycée administrator: new activation code
	OpCASServicePut   = "cas.service.put"   // operator: add or change a CAS service
	OpCASServiceDel   = "cas.service.remove"
	OpAuditRecord     = "audit.record"  // a node records an authentication or a ticket validation
	OpAuditPurge      = "audit.purge"   // operator: remove the audit entries past their retention
	OpImportReport    = "import.report" // operator: store a directory import's report
	// Assistance (issue "The service bundle"): helpdesk tickets.
	OpTicketOpen    = "ticket.open"    // any user of the lycée opens a ticket
	OpTicketComment = "ticket.comment" // its author or the lycée's staff comment on it
	OpTicketStatus  = "ticket.status"  // the lycée's staff change its status, from a base
	// Cahier de textes (issue "The service bundle"): a class's session log.
	OpHomeworkWrite  = "homework.write"  // a teacher of the class writes or edits their entry
	OpHomeworkDelete = "homework.delete" // the entry's author deletes it
	// Absences (issue "The service bundle"): vie scolaire.
	OpAbsenceRecord  = "absence.record"  // a teacher of the class or the lycée's staff record one
	OpAbsenceJustify = "absence.justify" // a relative of the student justifies it
	OpAbsenceStatus  = "absence.status"  // the lycée's staff set its status
	// Réservation (issue "The service bundle"): rooms and equipment.
	OpResourcePut   = "resource.put"   // the lycée's staff declare or change a resource
	OpBookingMake   = "booking.make"   // a teacher or staff member books a free slot
	OpBookingCancel = "booking.cancel" // the booker or the lycée's staff cancel a booking
	// Notes (issue "The service bundle"): evaluations and grades.
	OpEvaluationCreate = "evaluation.create" // a teacher of the class creates one
	OpGradeSet         = "grade.set"         // the evaluation's author sets a grade, from a base
	// Forum (issue "The service bundle"): discussion spaces of a lycée.
	OpForumCreate = "forum.create" // a teacher (their class) or staff create a forum
	OpForumTopic  = "forum.topic"  // a reader of the forum opens a topic
	OpForumPost   = "forum.post"   // a reader of the forum replies to a topic
	OpForumHide   = "forum.hide"   // the lycée's staff hide a reply
	// Blog (issue "The service bundle"): posts of the lycée and of classes.
	OpBlogPublish = "blog.publish" // a teacher (their classes) or the lycée's staff publish a post
	OpBlogComment = "blog.comment" // a reader of the post comments on it
	OpBlogDelete  = "blog.delete"  // the author or the lycée's staff delete a post or a comment
	// Gestion de parc (issue "The service bundle"): the lycée's inventory.
	OpAssetCreate = "asset.create" // the lycée's staff record an asset
	OpAssetUpdate = "asset.update" // the lycée's staff change it, from a base revision

	OpFileChunk = "file.chunk" // a member of the partition stores a chunk of a file
	// Espaces collaboratifs (issue "The service bundle"): shared documents.
	OpSpaceCreate  = "space.create"  // a teacher or staff member creates a group or adults space
	OpSpaceDeposit = "space.deposit" // a member deposits a document and its first version
	OpSpaceVersion = "space.version" // a member deposits a new version of a document
	OpSpaceDelete  = "space.delete"  // the depositor, the space's creator, a teacher of the class or staff delete a document
	// Ressources (issue "The service bundle"): the region's and the lycées' catalogues.
	OpCataloguePublish = "catalogue.publish" // a teacher or the lycée's staff, or Région staff in the region
	OpCatalogueUpdate  = "catalogue.update"  // the author or the staff: the whole item, last write by time
	OpCatalogueRetire  = "catalogue.retire"  // the author or the staff retire it (tombstone)
	// Proposals of modification of the region's content (drafts.go).
	OpDraftPropose = "draft.propose" // a lycée's teacher or staff member, in their lycée's partition
	OpDraftApply   = "draft.apply"   // Région staff at central, in the proposal's lycée partition
	OpDraftDiscard = "draft.discard" // Région staff at central, in the proposal's lycée partition
	OpNewsUpdate   = "news.update"   // Région staff at central edit a region news item
)

// ValidProfile reports whether p is one of the profiles above.
func ValidProfile(p string) bool {
	switch p {
	case Student, Relative, Teacher, Personnel, Region:
		return true
	}
	return false
}

// ProfileLabel returns the French name of a profile, as users read it.
func ProfileLabel(p string) string {
	switch p {
	case Student:
		return "Élève"
	case Relative:
		return "Responsable légal"
	case Teacher:
		return "Enseignant"
	case Personnel:
		return "Personnel"
	case Region:
		return "Agent de la Région"
	}
	return p
}

// User is an account of the ENT. It is stored as a record of kind "user"
// keyed by Login, in its lycée's partition (Région staff: record.Region).
type User struct {
	ID           string `json:"id"`
	Login        string `json:"login"`
	Name         string `json:"name"`
	Profile      string `json:"profile"`
	UAI          string `json:"uai,omitempty"` // the lycée; "" for Région staff
	PasswordHash string `json:"passwordHash"`  // argon2id PHC string
	Active       bool   `json:"active"`
	// Children lists the ids of a Relative's children (students of the
	// same lycée).
	Children []string `json:"children,omitempty"`

	// What the académie's directory says (package directory); empty for
	// accounts not imported. CAS services receive them as attributes.
	JoinKey   string   `json:"joinKey,omitempty"`   // ACADEMIE:aafid, unique in the region
	Jointure  string   `json:"jointure,omitempty"`  // ENTPersonJointure as exported
	Surname   string   `json:"surname,omitempty"`   // nom
	GivenName string   `json:"givenName,omitempty"` // prénom
	BirthDate string   `json:"birthDate,omitempty"` // AAAA-MM-JJ
	Classes   []string `json:"classes,omitempty"`   // a student's classes, a teacher's classes
	Subjects  []string `json:"subjects,omitempty"`  // a teacher's subject codes
	Functions []string `json:"functions,omitempty"` // a staff member's function codes (DIR, EDU, …)
	// MissingSince is when a Complet set first lacked this user (unix ms);
	// zero while the directory lists them. The account is deactivated
	// once a grace period has passed.
	MissingSince int64 `json:"missingSince,omitempty"`
	// Departed is set once the grace period has passed: the account is
	// inactive until the directory lists the person again.
	Departed bool `json:"departed,omitempty"`

	// Account state, owned by the ENT (an import keeps it).
	// Admin marks a lycée administrator (the direction): resets accounts
	// and reads the lycée's audit trail.
	Admin bool `json:"admin,omitempty"`
	// ActivationHash is the hex SHA-256 of the pending activation code;
	// empty once activated.
	ActivationHash string `json:"activationHash,omitempty"`
}

// Partition is the partition holding the user's record.
func (u User) Partition() string {
	if u.Profile == Region {
		return record.Region
	}
	return u.UAI
}

// CASService is an entry of the CAS registry: the services allowed to
// authenticate users through Atrium, and the attribute set each expects.
type CASService struct {
	ID      string `json:"id"`      // record id
	Name    string `json:"name"`    // unique, the record's key
	Pattern string `json:"pattern"` // regular expression the service URL must match (anchored)
	Profile string `json:"profile"` // attribute set: generic, pronote, grr, moodle, glpi
}

// CAS attribute profiles.
const (
	CASGeneric = "generic"
	CASPronote = "pronote"
	CASGRR     = "grr"
	CASMoodle  = "moodle"
	CASGLPI    = "glpi"
)

// ValidCASProfile reports whether p is one of the attribute profiles.
func ValidCASProfile(p string) bool {
	switch p {
	case CASGeneric, CASPronote, CASGRR, CASMoodle, CASGLPI:
		return true
	}
	return false
}

// Lycee is a lycée, stored as a record of kind "lycee" keyed by its UAI in
// its own partition.
type Lycee struct {
	UAI  string `json:"uai"`
	Name string `json:"name"`
	City string `json:"city"`
}

// News is an item of news: of a lycée (Partition = its UAI) or of the whole
// region (Partition = record.Region).
type News struct {
	ID         string    `json:"id"`
	Partition  string    `json:"partition"`
	Title      string    `json:"title"`
	Body       string    `json:"body"`
	AuthorID   string    `json:"authorId"`
	AuthorName string    `json:"authorName"`
	Published  time.Time `json:"published"`
}

// RegionWide reports whether the news is addressed to the whole region.
func (n News) RegionWide() bool { return n.Partition == record.Region }

// Message is a private message between two users of one lycée.
type Message struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"`
	FromID    string    `json:"fromId"`
	FromLogin string    `json:"fromLogin"`
	FromName  string    `json:"fromName"`
	ToID      string    `json:"toId"`
	ToLogin   string    `json:"toLogin"`
	ToName    string    `json:"toName"`
	Subject   string    `json:"subject"`
	Body      string    `json:"body"`
	Sent      time.Time `json:"sent"`
}

// newsBody and messageBody are the stored JSON documents; times are unix
// milliseconds taken from the command.
type newsBody struct {
	Title      string `json:"title"`
	Body       string `json:"body"`
	AuthorID   string `json:"authorId"`
	AuthorName string `json:"authorName"`
	Published  int64  `json:"published"`
}

type messageBody struct {
	FromID    string `json:"fromId"`
	FromLogin string `json:"fromLogin"`
	FromName  string `json:"fromName"`
	ToID      string `json:"toId"`
	ToLogin   string `json:"toLogin"`
	ToName    string `json:"toName"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	Sent      int64  `json:"sent"`
}

// Arguments of the commands, as carried in record.Command.Args.

// NewsArgs are the arguments of "news.publish"; the partition is the
// command's.
type NewsArgs struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// MessageArgs are the arguments of "message.send".
type MessageArgs struct {
	ID      string `json:"id"`
	To      string `json:"to"` // recipient's user id
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// LyceeArgs are the arguments of "lycee.put".
type LyceeArgs struct {
	ID string `json:"id"` // record id, minted once per lycée
	Lycee
}

// Limits on what users write.
const (
	maxTitle   = 200
	maxSubject = 200
	maxBody    = 20000
	maxName    = 200
	maxLogin   = 64
)

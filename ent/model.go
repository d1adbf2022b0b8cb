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
)

// Operations of Exec. Their names are part of the replicated log and of the
// edges' outboxes: only ever append.
const (
	OpUserPut     = "user.put"
	OpLyceePut    = "lycee.put"
	OpNewsPublish = "news.publish"
	OpMessageSend = "message.send"
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
}

// Partition is the partition holding the user's record.
func (u User) Partition() string {
	if u.Profile == Region {
		return record.Region
	}
	return u.UAI
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

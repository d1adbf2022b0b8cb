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

// The forum of a lycée: discussion spaces (forums) holding topics (sujets)
// and their replies (messages). Its rules follow those that protect minors
// (rules.go):
//
//   - A forum has an audience. "classe": the students of the class, the
//     teachers who teach it and the lycée's staff; relatives never.
//     "adultes": the lycée's teachers and staff only. "tous": everyone of
//     the lycée, relatives included. Région staff read none.
//   - A Teacher creates a class forum for a class they teach; a Personnel
//     creates a forum of any audience (a class forum for any class).
//   - Whoever reads a forum opens topics and replies in it. Topics and
//     replies are append-only items: never edited, never conflicting.
//   - A Personnel of the lycée hides (modère) a reply: its record stays,
//     readers see « Message masqué par la modération » instead of its
//     text. Hiding is final (a repeated hide is a no-op).
//
// Everything lives in the lycée's partition: the edge holds it and it is
// written there while the link is down.

// Forum audiences.
const (
	AudienceClass  = "classe"
	AudienceAdults = "adultes"
	AudienceAll    = "tous"
)

// HiddenPostText is what readers see instead of a hidden reply.
const HiddenPostText = "Message masqué par la modération"

// Forum is a discussion space of a lycée.
type Forum struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"`
	Title     string    `json:"title"`
	Audience  string    `json:"audience"`
	Class     string    `json:"class,omitempty"` // AudienceClass only
	AuthorID  string    `json:"authorId"`
	Author    string    `json:"author"`
	Created   time.Time `json:"created"`
	Topics    int       `json:"topics"` // set by ListForums
}

// ForumTopic is a topic of a forum, with its opening text.
type ForumTopic struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"`
	ForumID   string    `json:"forumId"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	AuthorID  string    `json:"authorId"`
	Author    string    `json:"author"`
	Created   time.Time `json:"created"`
	Replies   int       `json:"replies"`      // set by GetForum
	LastPost  time.Time `json:"lastActivity"` // set by GetForum: the latest reply, or Created
}

// ForumPost is a reply to a topic. A hidden reply's Body is "" and
// Hidden is set.
type ForumPost struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"`
	TopicID   string    `json:"topicId"`
	ForumID   string    `json:"forumId"`
	Body      string    `json:"body"`
	AuthorID  string    `json:"authorId"`
	Author    string    `json:"author"`
	Created   time.Time `json:"created"`
	Hidden    bool      `json:"hidden"`
}

// ForumArgs are the arguments of "forum.create".
type ForumArgs struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Audience string `json:"audience"`
	Class    string `json:"class,omitempty"`
}

// ForumTopicArgs are the arguments of "forum.topic".
type ForumTopicArgs struct {
	ID      string `json:"id"`
	ForumID string `json:"forumId"`
	Title   string `json:"title"`
	Body    string `json:"body"`
}

// ForumPostArgs are the arguments of "forum.post".
type ForumPostArgs struct {
	ID      string `json:"id"`
	TopicID string `json:"topicId"`
	Body    string `json:"body"`
}

// ForumHideArgs are the arguments of "forum.hide".
type ForumHideArgs struct {
	ID string `json:"id"` // the reply's
}

// Stored documents; times are unix milliseconds from the commands.
type forumBody struct {
	Title    string `json:"title"`
	Audience string `json:"audience"`
	Class    string `json:"class,omitempty"`
	AuthorID string `json:"authorId"`
	Author   string `json:"author"`
	Created  int64  `json:"created"`
}

type forumTopicBody struct {
	ForumID  string `json:"forumId"`
	Title    string `json:"title"`
	Body     string `json:"body"`
	AuthorID string `json:"authorId"`
	Author   string `json:"author"`
	Created  int64  `json:"created"`
}

type forumPostBody struct {
	TopicID  string `json:"topicId"`
	ForumID  string `json:"forumId"`
	Body     string `json:"body"`
	AuthorID string `json:"authorId"`
	Author   string `json:"author"`
	Created  int64  `json:"created"`
	HiddenBy string `json:"hiddenBy,omitempty"`
	HiddenAt int64  `json:"hiddenAt,omitempty"`
}

// ValidAudience reports whether a is one of the forum audiences.
func ValidAudience(a string) bool {
	return a == AudienceClass || a == AudienceAdults || a == AudienceAll
}

// AudienceLabel is the French name of an audience.
func AudienceLabel(a string) string {
	switch a {
	case AudienceClass:
		return "Classe"
	case AudienceAdults:
		return "Adultes (enseignants et personnels)"
	case AudienceAll:
		return "Tout le lycée (parents compris)"
	}
	return a
}

// CanCreateForum reports whether u creates forums: a teacher with classes
// or a Personnel, of a lycée.
func CanCreateForum(u User) bool {
	if u.UAI == "" {
		return false
	}
	return u.Profile == Personnel || (u.Profile == Teacher && len(u.Classes) > 0)
}

// CanModerateForum reports whether u hides replies: a Personnel of a lycée.
func CanModerateForum(u User) bool { return u.UAI != "" && u.Profile == Personnel }

// forumRefusal is the refusal of a forum creation u may not make, or nil.
func forumRefusal(u User, a ForumArgs) error {
	switch {
	case !CanCreateForum(u):
		return rejectForbidden("Seuls les enseignants et les personnels du lycée créent des forums.")
	case a.Audience != AudienceClass && u.Profile != Personnel:
		return rejectForbidden("Seuls les personnels du lycée créent des forums pour tout le lycée.")
	case a.Audience == AudienceClass && u.Profile == Teacher && !slices.Contains(u.Classes, a.Class):
		return rejectForbidden("Vous ne créez de forum que pour les classes où vous enseignez.")
	}
	return nil
}

// ReadsForum reports whether u reads (and writes in) forum f. Pure.
func ReadsForum(u User, f Forum) bool {
	if u.UAI == "" || u.Profile == Region || f.Partition != u.UAI {
		return false
	}
	switch f.Audience {
	case AudienceClass:
		switch u.Profile {
		case Personnel:
			return true
		case Teacher, Student:
			return slices.Contains(u.Classes, f.Class)
		}
	case AudienceAdults:
		return u.Profile == Teacher || u.Profile == Personnel
	case AudienceAll:
		return u.Profile == Teacher || u.Profile == Personnel || u.Profile == Student || u.Profile == Relative
	}
	return false
}

func trimForum(a ForumArgs) ForumArgs {
	a.Title, a.Audience, a.Class = strings.TrimSpace(a.Title), strings.TrimSpace(a.Audience), strings.TrimSpace(a.Class)
	if a.Audience != AudienceClass {
		a.Class = ""
	}
	return a
}

func checkForum(a ForumArgs) error {
	switch {
	case !text(a.Title, maxTitle):
		return rejectInvalid("Le titre du forum est obligatoire.")
	case !ValidAudience(a.Audience):
		return rejectInvalid("Le public du forum est classe, adultes ou tous.")
	case a.Audience == AudienceClass && !text(a.Class, maxClass):
		return rejectInvalid("La classe du forum est obligatoire.")
	}
	return nil
}

func checkTopic(a ForumTopicArgs) error {
	if !text(a.Title, maxTitle) || !text(a.Body, maxBody) {
		return rejectInvalid("Le titre et le texte du sujet sont obligatoires.")
	}
	return nil
}

func checkPost(a ForumPostArgs) error {
	if !text(a.Body, maxBody) {
		return rejectInvalid("Le texte du message est obligatoire.")
	}
	return nil
}

func execForumCreate(tx record.Tx, cmd record.Command) error {
	var a ForumArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return rejectForbidden("Le forum est celui d'un lycée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindForum); err != nil || done {
		return err
	}
	a = trimForum(a)
	if err := checkForum(a); err != nil {
		return err
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return rejectForbidden("Seuls les enseignants et les personnels du lycée créent des forums.")
	}
	if err := forumRefusal(author, a); err != nil {
		return err
	}
	body, err := json.Marshal(forumBody{Title: a.Title, Audience: a.Audience, Class: a.Class,
		AuthorID: author.ID, Author: author.Name, Created: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindForum, Body: body})
}

// forumOf returns the live forum id of partition, or a "not_found"
// rejection.
func forumOf(r record.Reader, partition, id string) (Forum, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil {
		return Forum{}, err
	}
	if !ok || rec.Deleted || rec.Kind != KindForum {
		return Forum{}, record.Reject("not_found", "Forum introuvable.")
	}
	return decodeForum(rec)
}

// topicOf returns the live topic id of partition, or a "not_found"
// rejection.
func topicOf(r record.Reader, partition, id string) (ForumTopic, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil {
		return ForumTopic{}, err
	}
	if !ok || rec.Deleted || rec.Kind != KindForumTopic {
		return ForumTopic{}, record.Reject("not_found", "Sujet introuvable.")
	}
	return decodeTopic(rec)
}

// forumWriter returns the author of cmd if they read forum id, or the
// refusal.
func forumWriter(tx record.Tx, cmd record.Command, forumID string) (User, error) {
	f, err := forumOf(tx, cmd.Partition, forumID)
	if err != nil {
		return User{}, err
	}
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return User{}, err
	}
	if !ok || !ReadsForum(u, f) {
		return User{}, rejectForbidden("Vous n'écrivez pas dans ce forum.")
	}
	return u, nil
}

func execForumTopic(tx record.Tx, cmd record.Command) error {
	var a ForumTopicArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindForumTopic); err != nil || done {
		return err
	}
	a.Title, a.Body = strings.TrimSpace(a.Title), strings.TrimSpace(a.Body)
	if err := checkTopic(a); err != nil {
		return err
	}
	u, err := forumWriter(tx, cmd, a.ForumID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(forumTopicBody{ForumID: a.ForumID, Title: a.Title, Body: a.Body,
		AuthorID: u.ID, Author: u.Name, Created: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindForumTopic, Body: body})
}

func execForumPost(tx record.Tx, cmd record.Command) error {
	var a ForumPostArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if done, err := existing(tx, cmd.Partition, a.ID, KindForumPost); err != nil || done {
		return err
	}
	a.Body = strings.TrimSpace(a.Body)
	if err := checkPost(a); err != nil {
		return err
	}
	topic, err := topicOf(tx, cmd.Partition, a.TopicID)
	if err != nil {
		return err
	}
	u, err := forumWriter(tx, cmd, topic.ForumID)
	if err != nil {
		return err
	}
	body, err := json.Marshal(forumPostBody{TopicID: topic.ID, ForumID: topic.ForumID, Body: a.Body,
		AuthorID: u.ID, Author: u.Name, Created: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindForumPost, Body: body})
}

func execForumHide(tx record.Tx, cmd record.Command) error {
	var a ForumHideArgs
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
	if !ok || rec.Deleted || rec.Kind != KindForumPost {
		return record.Reject("not_found", "Message introuvable.")
	}
	var b forumPostBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return fmt.Errorf("decode forum post %s: %w", rec.ID, err)
	}
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok || !CanModerateForum(u) {
		return rejectForbidden("Seuls les personnels du lycée modèrent le forum.")
	}
	if b.HiddenBy != "" {
		return nil // already hidden: a retransmission, or another moderator's
	}
	b.HiddenBy, b.HiddenAt = u.ID, cmd.Time
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	rec.Body = body
	return tx.Put(rec)
}

func decodeForum(rec record.Record) (Forum, error) {
	var b forumBody
	if err := b.unmarshal(rec.Body); err != nil {
		return Forum{}, fmt.Errorf("decode forum %s: %w", rec.ID, err)
	}
	return Forum{ID: rec.ID, Partition: rec.Partition, Title: b.Title, Audience: b.Audience, Class: b.Class,
		AuthorID: b.AuthorID, Author: b.Author, Created: time.UnixMilli(b.Created)}, nil
}

func decodeTopic(rec record.Record) (ForumTopic, error) {
	var b forumTopicBody
	if err := b.unmarshal(rec.Body); err != nil {
		return ForumTopic{}, fmt.Errorf("decode forum topic %s: %w", rec.ID, err)
	}
	created := time.UnixMilli(b.Created)
	return ForumTopic{ID: rec.ID, Partition: rec.Partition, ForumID: b.ForumID, Title: b.Title, Body: b.Body,
		AuthorID: b.AuthorID, Author: b.Author, Created: created, LastPost: created}, nil
}

// decodePost decodes a reply; a hidden one loses its text.
func decodePost(rec record.Record) (ForumPost, error) {
	var b forumPostBody
	if err := b.unmarshal(rec.Body); err != nil {
		return ForumPost{}, fmt.Errorf("decode forum post %s: %w", rec.ID, err)
	}
	p := ForumPost{ID: rec.ID, Partition: rec.Partition, TopicID: b.TopicID, ForumID: b.ForumID, Body: b.Body,
		AuthorID: b.AuthorID, Author: b.Author, Created: time.UnixMilli(b.Created), Hidden: b.HiddenBy != ""}
	if p.Hidden {
		p.Body = ""
	}
	return p, nil
}

// ListForums returns the forums u reads with their number of topics:
// class forums first by class, then the lycée-wide ones, by title.
func (s *Service) ListForums(ctx context.Context, u User) ([]Forum, error) {
	if u.UAI == "" || u.Profile == Region {
		return nil, nil
	}
	var out []Forum
	err := s.store.View(func(r record.Reader) error {
		if err := r.Scan(u.UAI, KindForum, func(rec record.Record) error {
			f, err := decodeForum(rec)
			if err == nil && ReadsForum(u, f) {
				out = append(out, f)
			}
			return err
		}); err != nil {
			return err
		}
		// The index counts the topics of the forums u reads, without
		// decoding them; a store without one decodes every topic.
		for i := range out {
			n := 0
			err := r.ScanTerm(u.UAI, KindForumTopic, forumTerm(out[i].ID), func(record.Record) error { n++; return nil })
			if errors.Is(err, record.ErrNoIndex) {
				break
			}
			if err != nil {
				return err
			}
			out[i].Topics = n
			if i == len(out)-1 {
				return nil
			}
		}
		if len(out) == 0 {
			return nil
		}
		count, err := countChildren(r, u.UAI, KindForumTopic, decodeTopic, func(t ForumTopic) string { return t.ForumID })
		for i := range out {
			out[i].Topics = count[out[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list forums: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Audience == AudienceClass) != (b.Audience == AudienceClass) {
			return a.Audience == AudienceClass
		}
		if a.Class != b.Class {
			return a.Class < b.Class
		}
		if a.Title != b.Title {
			return a.Title < b.Title
		}
		return a.ID < b.ID
	})
	return out, nil
}

// GetForum returns forum id and its topics, the latest activity first, if
// u reads it; else ErrNotFound.
func (s *Service) GetForum(ctx context.Context, u User, id string) (Forum, []ForumTopic, error) {
	if u.UAI == "" || u.Profile == Region {
		return Forum{}, nil, ErrNotFound
	}
	var f Forum
	var topics []ForumTopic
	var found bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		if f, err = forumOf(r, u.UAI, id); err != nil {
			if _, ok := record.AsRejection(err); ok {
				return nil
			}
			return err
		}
		if found = ReadsForum(u, f); !found {
			return nil
		}
		idx := map[string]int{}
		// The index finds the forum's topics and replies (IndexTerms).
		if err := scanTerms(r, u.UAI, KindForumTopic, []string{forumTerm(id)}, func(rec record.Record) error {
			t, err := decodeTopic(rec)
			if err == nil && t.ForumID == id {
				idx[t.ID] = len(topics)
				topics = append(topics, t)
			}
			return err
		}); err != nil {
			return err
		}
		return scanTerms(r, u.UAI, KindForumPost, []string{forumTerm(id)}, func(rec record.Record) error {
			p, err := decodePost(rec)
			if i, ok := idx[p.TopicID]; ok && err == nil {
				topics[i].Replies++
				if p.Created.After(topics[i].LastPost) {
					topics[i].LastPost = p.Created
				}
			}
			return err
		})
	})
	if err != nil {
		return Forum{}, nil, fmt.Errorf("get forum: %w", err)
	}
	if !found {
		return Forum{}, nil, ErrNotFound
	}
	sort.SliceStable(topics, func(i, j int) bool {
		if !topics[i].LastPost.Equal(topics[j].LastPost) {
			return topics[i].LastPost.After(topics[j].LastPost)
		}
		return topics[i].ID > topics[j].ID
	})
	return f, topics, nil
}

// GetForumTopic returns topic id, its forum and its replies, oldest first,
// if u reads the forum; else ErrNotFound. Hidden replies have no text.
func (s *Service) GetForumTopic(ctx context.Context, u User, id string) (ForumTopic, Forum, []ForumPost, error) {
	if u.UAI == "" || u.Profile == Region {
		return ForumTopic{}, Forum{}, nil, ErrNotFound
	}
	var t ForumTopic
	var f Forum
	var posts []ForumPost
	var found bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		if t, err = topicOf(r, u.UAI, id); err == nil {
			f, err = forumOf(r, u.UAI, t.ForumID)
		}
		if err != nil {
			if _, ok := record.AsRejection(err); ok {
				return nil
			}
			return err
		}
		if found = ReadsForum(u, f); !found {
			return nil
		}
		return scanTerms(r, u.UAI, KindForumPost, []string{topicTerm(id)}, func(rec record.Record) error {
			p, err := decodePost(rec)
			if err == nil && p.TopicID == id {
				posts = append(posts, p)
			}
			return err
		})
	})
	if err != nil {
		return ForumTopic{}, Forum{}, nil, fmt.Errorf("get forum topic: %w", err)
	}
	if !found {
		return ForumTopic{}, Forum{}, nil, ErrNotFound
	}
	sort.SliceStable(posts, func(i, j int) bool {
		if !posts[i].Created.Equal(posts[j].Created) {
			return posts[i].Created.Before(posts[j].Created)
		}
		return posts[i].ID < posts[j].ID
	})
	t.Replies = len(posts)
	if len(posts) > 0 {
		t.LastPost = posts[len(posts)-1].Created
	}
	return t, f, posts, nil
}

// CreateForum creates a forum by u. Refusals are *record.Rejection.
func (s *Service) CreateForum(ctx context.Context, u User, a ForumArgs) (Forum, error) {
	a = trimForum(a)
	a.ID = record.NewID()
	if !CanCreateForum(u) {
		return Forum{}, forumRefusal(u, a)
	}
	if err := checkForum(a); err != nil {
		return Forum{}, err
	}
	if err := forumRefusal(u, a); err != nil {
		return Forum{}, err
	}
	at := s.now()
	if err := s.submit(ctx, u, OpForumCreate, u.UAI, a, at); err != nil {
		return Forum{}, err
	}
	return Forum{ID: a.ID, Partition: u.UAI, Title: a.Title, Audience: a.Audience, Class: a.Class,
		AuthorID: u.ID, Author: u.Name, Created: time.UnixMilli(at.UnixMilli())}, nil
}

// CreateForumTopic opens a topic in forum a.ForumID, which u reads (else
// ErrNotFound).
func (s *Service) CreateForumTopic(ctx context.Context, u User, a ForumTopicArgs) (ForumTopic, error) {
	if _, _, err := s.GetForum(ctx, u, a.ForumID); err != nil {
		return ForumTopic{}, err
	}
	a.ID, a.Title, a.Body = record.NewID(), strings.TrimSpace(a.Title), strings.TrimSpace(a.Body)
	if err := checkTopic(a); err != nil {
		return ForumTopic{}, err
	}
	at := s.now()
	if err := s.submit(ctx, u, OpForumTopic, u.UAI, a, at); err != nil {
		return ForumTopic{}, err
	}
	created := time.UnixMilli(at.UnixMilli())
	return ForumTopic{ID: a.ID, Partition: u.UAI, ForumID: a.ForumID, Title: a.Title, Body: a.Body,
		AuthorID: u.ID, Author: u.Name, Created: created, LastPost: created}, nil
}

// ReplyForumTopic replies to topic a.TopicID, whose forum u reads (else
// ErrNotFound).
func (s *Service) ReplyForumTopic(ctx context.Context, u User, a ForumPostArgs) (ForumPost, error) {
	t, _, _, err := s.GetForumTopic(ctx, u, a.TopicID)
	if err != nil {
		return ForumPost{}, err
	}
	a.ID, a.Body = record.NewID(), strings.TrimSpace(a.Body)
	if err := checkPost(a); err != nil {
		return ForumPost{}, err
	}
	at := s.now()
	if err := s.submit(ctx, u, OpForumPost, u.UAI, a, at); err != nil {
		return ForumPost{}, err
	}
	return ForumPost{ID: a.ID, Partition: u.UAI, TopicID: t.ID, ForumID: t.ForumID, Body: a.Body,
		AuthorID: u.ID, Author: u.Name, Created: time.UnixMilli(at.UnixMilli())}, nil
}

// HideForumPost hides reply id (moderation by the lycée's staff). A reply
// u cannot read is ErrNotFound.
func (s *Service) HideForumPost(ctx context.Context, u User, id string) error {
	if !CanModerateForum(u) {
		return rejectForbidden("Seuls les personnels du lycée modèrent le forum.")
	}
	var found bool
	err := s.store.View(func(r record.Reader) error {
		rec, ok, err := r.Get(u.UAI, id)
		found = err == nil && ok && !rec.Deleted && rec.Kind == KindForumPost
		return err
	})
	if err != nil {
		return fmt.Errorf("hide forum post: %w", err)
	}
	if !found {
		return ErrNotFound
	}
	return s.submit(ctx, u, OpForumHide, u.UAI, ForumHideArgs{ID: id}, s.now())
}

package ent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"atrium/record"
)

// The blog of a lycée: posts addressed to the whole lycée or to one class,
// and their readers' comments. Its rules:
//
//   - A Teacher publishes to the lycée or to one of the classes they teach
//     (User.Classes); a Personnel of the lycée (the direction, the vie
//     scolaire, the CDI) to the lycée or to any class. Students, relatives
//     and Région staff publish nothing.
//   - A post to the lycée is read by every user of the lycée. A post to a
//     class is read by its students, their relatives, the teachers of the
//     class, every Personnel of the lycée and its author. Nobody outside
//     the lycée reads any post.
//   - Whoever reads a post comments on it; comments are append-only (never
//     edited).
//   - A post is deleted by its author or the lycée's staff (Personnel or
//     administrator); a comment by its author, the post's author or the
//     staff. Deleting leaves a tombstone: a deleted post takes its comments
//     with it (nobody reads them any more), and a retransmitted command on
//     it is a no-op.
//
// Posts and comments live in the lycée's partition, so the edge holds them
// and they are written there while the link is down. Texts are plain: the
// portal shows them escaped, split into paragraphs.

// BlogPost is a post of the blog.
type BlogPost struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"` // the lycée's UAI
	Class     string    `json:"class"`     // the class addressed; "" for the whole lycée
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	AuthorID  string    `json:"authorId"`
	Author    string    `json:"author"` // the author's name
	Published time.Time `json:"published"`
	// CommentCount is set by ListBlog; Comments by GetBlogPost, oldest
	// first.
	CommentCount int           `json:"-"`
	Comments     []BlogComment `json:"-"`
}

// BlogComment is a comment on a post.
type BlogComment struct {
	ID       string    `json:"id"`
	PostID   string    `json:"postId"`
	Body     string    `json:"body"`
	AuthorID string    `json:"authorId"`
	Author   string    `json:"author"`
	Posted   time.Time `json:"posted"`
}

// BlogPostArgs are the arguments of "blog.publish". ID is minted by the
// Service when "".
type BlogPostArgs struct {
	ID    string `json:"id"`
	Class string `json:"class,omitempty"` // "" for the whole lycée
	Title string `json:"title"`
	Body  string `json:"body"`
}

// BlogCommentArgs are the arguments of "blog.comment".
type BlogCommentArgs struct {
	ID     string `json:"id"`
	PostID string `json:"postId"`
	Body   string `json:"body"`
}

// BlogDeleteArgs are the arguments of "blog.delete": the id of a post or
// of a comment.
type BlogDeleteArgs struct {
	ID string `json:"id"`
}

// blogPostBody and blogCommentBody are the stored documents; times are
// unix milliseconds from the commands.
type blogPostBody struct {
	Class     string `json:"class,omitempty"`
	Title     string `json:"title"`
	Body      string `json:"body"`
	AuthorID  string `json:"authorId"`
	Author    string `json:"author"`
	Published int64  `json:"published"`
}

type blogCommentBody struct {
	PostID   string `json:"postId"`
	Body     string `json:"body"`
	AuthorID string `json:"authorId"`
	Author   string `json:"author"`
	Posted   int64  `json:"posted"`
}

const maxBlogComment = 5000

// CanPublishBlog reports whether u publishes on the blog: a teacher or a
// staff member of a lycée.
func CanPublishBlog(u User) bool {
	return u.UAI != "" && (u.Profile == Teacher || u.Profile == Personnel)
}

// blogStaff reports whether u moderates the blog of their lycée.
func blogStaff(u User) bool { return u.UAI != "" && (u.Profile == Personnel || u.Admin) }

// CanDeleteBlogPost reports whether u deletes p: its author or the staff
// of its lycée.
func CanDeleteBlogPost(u User, p BlogPost) bool {
	return u.UAI != "" && u.UAI == p.Partition && (u.ID == p.AuthorID || blogStaff(u))
}

// CanDeleteBlogComment reports whether u deletes c, a comment on p: its
// author, the post's author or the staff of the lycée.
func CanDeleteBlogComment(u User, p BlogPost, c BlogComment) bool {
	return u.ID == c.AuthorID || CanDeleteBlogPost(u, p)
}

// canPublishTo reports whether u publishes to class ("" the lycée).
func canPublishTo(u User, class string) bool {
	switch {
	case !CanPublishBlog(u):
		return false
	case class == "" || u.Profile == Personnel:
		return true
	}
	return slices.Contains(u.Classes, class)
}

const (
	blogPublishRule = "Seuls les enseignants et les personnels du lycée publient sur le blog."
	blogClassRule   = "Un enseignant publie pour le lycée ou pour une des classes où il enseigne."
	blogDeleteRule  = "Seuls l'auteur et les personnels du lycée suppriment un article ou un commentaire."
	blogNotFound    = "Article du blog introuvable."
)

// blogReads reports whether u, whose children are children (Relative),
// reads p.
func blogReads(u User, children []User, p BlogPost) bool {
	if u.UAI == "" || u.Profile == Region || p.Partition != u.UAI {
		return false
	}
	if p.Class == "" || p.AuthorID == u.ID || u.Profile == Personnel {
		return true
	}
	switch u.Profile {
	case Teacher, Student:
		return slices.Contains(u.Classes, p.Class)
	case Relative:
		for _, c := range children {
			if slices.Contains(u.Children, c.ID) && slices.Contains(c.Classes, p.Class) {
				return true
			}
		}
	}
	return false
}

func checkBlogPost(a BlogPostArgs) error {
	switch {
	case !text(a.Title, maxTitle):
		return rejectInvalid("Le titre de l'article est obligatoire.")
	case !text(a.Body, maxBody):
		return rejectInvalid("Le texte de l'article est obligatoire.")
	case a.Class != "" && !text(a.Class, maxClass):
		return rejectInvalid("La classe est trop longue.")
	}
	return nil
}

func trimBlogPost(a BlogPostArgs) BlogPostArgs {
	a.Class, a.Title, a.Body = strings.TrimSpace(a.Class), strings.TrimSpace(a.Title), strings.TrimSpace(a.Body)
	return a
}

func execBlogPublish(tx record.Tx, cmd record.Command) error {
	var a BlogPostArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if cmd.Partition == record.Region {
		return rejectForbidden("Le blog est celui d'un lycée.")
	}
	if dup, err := existing(tx, cmd.Partition, a.ID, KindBlogPost); err != nil || dup {
		return err // a retransmission (even of a post deleted since) is a no-op
	}
	a = trimBlogPost(a)
	if err := checkBlogPost(a); err != nil {
		return err
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	switch {
	case !ok || !CanPublishBlog(author):
		return rejectForbidden(blogPublishRule)
	case !canPublishTo(author, a.Class):
		return rejectForbidden(blogClassRule)
	}
	body, err := json.Marshal(blogPostBody{Class: a.Class, Title: a.Title, Body: a.Body, AuthorID: author.ID,
		Author: author.Name, Published: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindBlogPost, Body: body})
}

// livePost returns the live post id of partition, or ok=false.
func livePost(r record.Reader, partition, id string) (BlogPost, bool, error) {
	rec, ok, err := r.Get(partition, id)
	if err != nil || !ok || rec.Deleted || rec.Kind != KindBlogPost {
		return BlogPost{}, false, err
	}
	p, err := decodeBlogPost(rec)
	return p, err == nil, err
}

func execBlogComment(tx record.Tx, cmd record.Command) error {
	var a BlogCommentArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	if !validID(a.ID) || !validID(a.PostID) || cmd.Partition == "" || cmd.Time <= 0 {
		return rejectInvalid("Commande mal formée.")
	}
	if dup, err := existing(tx, cmd.Partition, a.ID, KindBlogComment); err != nil || dup {
		return err
	}
	a.Body = strings.TrimSpace(a.Body)
	if !text(a.Body, maxBlogComment) {
		return rejectInvalid("Le commentaire est vide ou trop long.")
	}
	post, ok, err := livePost(tx, cmd.Partition, a.PostID)
	if err != nil {
		return err
	}
	if !ok {
		return record.Reject("not_found", blogNotFound)
	}
	author, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	children, err := childrenOf(tx, author)
	if err != nil {
		return err
	}
	if !ok || !blogReads(author, children, post) {
		return rejectForbidden("Vous ne commentez que les articles que vous pouvez lire.")
	}
	body, err := json.Marshal(blogCommentBody{PostID: post.ID, Body: a.Body, AuthorID: author.ID, Author: author.Name, Posted: cmd.Time})
	if err != nil {
		return err
	}
	return tx.Put(record.Record{Partition: cmd.Partition, ID: a.ID, Kind: KindBlogComment, Body: body})
}

func execBlogDelete(tx record.Tx, cmd record.Command) error {
	rec, err := deletionTarget(tx, cmd, blogNotFound, KindBlogPost, KindBlogComment)
	if err != nil {
		return err
	}
	if rec.Deleted {
		return nil // already deleted: a retransmission
	}
	u, ok, err := activeUser(tx, cmd.Partition, cmd.User)
	if err != nil {
		return err
	}
	if !ok {
		return rejectForbidden(blogDeleteRule)
	}
	var allowed bool
	if rec.Kind == KindBlogPost {
		p, err := decodeBlogPost(rec)
		if err != nil {
			return err
		}
		allowed = CanDeleteBlogPost(u, p)
	} else {
		c, err := decodeBlogComment(rec)
		if err != nil {
			return err
		}
		// The post may be gone: then its author no longer moderates it.
		p, _, err := livePost(tx, cmd.Partition, c.PostID)
		if err != nil {
			return err
		}
		p.Partition = cmd.Partition
		allowed = CanDeleteBlogComment(u, p, c)
	}
	if !allowed {
		return rejectForbidden(blogDeleteRule)
	}
	rec.Deleted, rec.Body = true, nil
	return tx.Put(rec)
}

func decodeBlogPost(rec record.Record) (BlogPost, error) {
	var b blogPostBody
	if err := b.unmarshal(rec.Body); err != nil {
		return BlogPost{}, fmt.Errorf("decode blog post %s: %w", rec.ID, err)
	}
	return BlogPost{ID: rec.ID, Partition: rec.Partition, Class: b.Class, Title: b.Title, Body: b.Body,
		AuthorID: b.AuthorID, Author: b.Author, Published: time.UnixMilli(b.Published)}, nil
}

func decodeBlogComment(rec record.Record) (BlogComment, error) {
	var b blogCommentBody
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return BlogComment{}, fmt.Errorf("decode blog comment %s: %w", rec.ID, err)
	}
	return BlogComment{ID: rec.ID, PostID: b.PostID, Body: b.Body, AuthorID: b.AuthorID, Author: b.Author,
		Posted: time.UnixMilli(b.Posted)}, nil
}

// ListBlog returns the posts u reads, the latest first, with their
// comment counts. Région staff read none.
func (s *Service) ListBlog(ctx context.Context, u User) ([]BlogPost, error) {
	if u.UAI == "" || u.Profile == Region {
		return nil, nil
	}
	var out []BlogPost
	err := s.store.View(func(r record.Reader) error {
		children, err := childrenOf(r, u)
		if err != nil {
			return err
		}
		err = r.Scan(u.UAI, KindBlogPost, func(rec record.Record) error {
			p, err := decodeBlogPost(rec)
			if err != nil {
				return err
			}
			if blogReads(u, children, p) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil || len(out) == 0 {
			return err
		}
		counts, err := countChildren(r, u.UAI, KindBlogComment, decodeBlogComment, func(c BlogComment) string { return c.PostID })
		for i := range out {
			out[i].CommentCount = counts[out[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list blog: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Published.Equal(out[j].Published) {
			return out[i].Published.After(out[j].Published)
		}
		return out[i].ID > out[j].ID
	})
	return out, nil
}

// GetBlogPost returns post id with its comments, oldest first, if u reads
// it; else ErrNotFound.
func (s *Service) GetBlogPost(ctx context.Context, u User, id string) (BlogPost, error) {
	if u.UAI == "" || u.Profile == Region {
		return BlogPost{}, ErrNotFound
	}
	var p BlogPost
	var found bool
	err := s.store.View(func(r record.Reader) error {
		var err error
		if p, found, err = livePost(r, u.UAI, id); err != nil || !found {
			return err
		}
		children, err := childrenOf(r, u)
		if err != nil {
			return err
		}
		if found = blogReads(u, children, p); !found {
			return nil
		}
		return r.Scan(u.UAI, KindBlogComment, func(rec record.Record) error {
			c, err := decodeBlogComment(rec)
			if err == nil && c.PostID == p.ID {
				p.Comments = append(p.Comments, c)
			}
			return err
		})
	})
	if err != nil {
		return BlogPost{}, fmt.Errorf("get blog post: %w", err)
	}
	if !found {
		return BlogPost{}, ErrNotFound
	}
	slices.Reverse(p.Comments) // Scan is newest first
	p.CommentCount = len(p.Comments)
	return p, nil
}

// BlogClasses returns the classes u may address a post to, besides the
// whole lycée: a teacher's classes, or for the staff every class of the
// lycée's students and teachers; sorted.
func (s *Service) BlogClasses(ctx context.Context, u User) ([]string, error) {
	if !CanPublishBlog(u) {
		return nil, nil
	}
	if u.Profile == Teacher {
		return slices.Sorted(slices.Values(u.Classes)), nil
	}
	seen := map[string]bool{}
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(u.UAI, KindUser, func(rec record.Record) error {
			o, err := decodeUser(rec.Body)
			if err != nil {
				return fmt.Errorf("decode user %s: %w", rec.ID, err)
			}
			if o.Active && (o.Profile == Student || o.Profile == Teacher) {
				for _, c := range o.Classes {
					seen[c] = true
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("blog classes: %w", err)
	}
	return sortedNames(seen), nil
}

// PublishBlog publishes a post by u (a.ID is minted when ""). Refusals are
// *record.Rejection.
func (s *Service) PublishBlog(ctx context.Context, u User, a BlogPostArgs) (BlogPost, error) {
	a = trimBlogPost(a)
	if !CanPublishBlog(u) {
		return BlogPost{}, rejectForbidden(blogPublishRule)
	}
	if err := checkBlogPost(a); err != nil {
		return BlogPost{}, err
	}
	if !canPublishTo(u, a.Class) {
		return BlogPost{}, rejectForbidden(blogClassRule)
	}
	if a.ID == "" {
		a.ID = record.NewID()
	}
	at := s.now()
	if err := s.submit(ctx, u, OpBlogPublish, u.UAI, a, at); err != nil {
		return BlogPost{}, err
	}
	return BlogPost{ID: a.ID, Partition: u.UAI, Class: a.Class, Title: a.Title, Body: a.Body, AuthorID: u.ID,
		Author: u.Name, Published: time.UnixMilli(at.UnixMilli())}, nil
}

// CommentBlog adds u's comment to post postID. A post u cannot read is
// ErrNotFound; other refusals are *record.Rejection.
func (s *Service) CommentBlog(ctx context.Context, u User, postID, body string) (BlogComment, error) {
	p, err := s.GetBlogPost(ctx, u, postID)
	if err != nil {
		return BlogComment{}, err
	}
	body = strings.TrimSpace(body)
	if !text(body, maxBlogComment) {
		return BlogComment{}, rejectInvalid("Le commentaire est vide ou trop long.")
	}
	a := BlogCommentArgs{ID: record.NewID(), PostID: p.ID, Body: body}
	at := s.now()
	if err := s.submit(ctx, u, OpBlogComment, u.UAI, a, at); err != nil {
		return BlogComment{}, err
	}
	return BlogComment{ID: a.ID, PostID: p.ID, Body: body, AuthorID: u.ID, Author: u.Name,
		Posted: time.UnixMilli(at.UnixMilli())}, nil
}

// DeleteBlogPost deletes post id. A post u cannot read is ErrNotFound; one
// u may not delete is refused ("forbidden").
func (s *Service) DeleteBlogPost(ctx context.Context, u User, id string) error {
	p, err := s.GetBlogPost(ctx, u, id)
	if err != nil {
		return err
	}
	if !CanDeleteBlogPost(u, p) {
		return rejectForbidden(blogDeleteRule)
	}
	return s.submit(ctx, u, OpBlogDelete, u.UAI, BlogDeleteArgs{ID: id}, s.now())
}

// DeleteBlogComment deletes comment commentID of post postID. A post u
// cannot read, or a comment not on it, is ErrNotFound.
func (s *Service) DeleteBlogComment(ctx context.Context, u User, postID, commentID string) error {
	p, err := s.GetBlogPost(ctx, u, postID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(p.Comments, func(c BlogComment) bool { return c.ID == commentID })
	if i < 0 {
		return ErrNotFound
	}
	if !CanDeleteBlogComment(u, p, p.Comments[i]) {
		return rejectForbidden(blogDeleteRule)
	}
	return s.submit(ctx, u, OpBlogDelete, u.UAI, BlogDeleteArgs{ID: commentID}, s.now())
}

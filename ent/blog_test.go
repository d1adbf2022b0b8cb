package ent_test

import (
	"errors"
	"testing"
	"time"

	"atrium/ent"
	"atrium/record"

	"github.com/google/go-cmp/cmp"
)

const (
	blogP1 = "01890000-0000-7000-8000-0000000000c1"
	blogP2 = "01890000-0000-7000-8000-0000000000c2"
	blogC1 = "01890000-0000-7000-8000-0000000000c3"
	blogC2 = "01890000-0000-7000-8000-0000000000c4"
	blogC3 = "01890000-0000-7000-8000-0000000000c5"
)

func blogCmd(t testing.TB, by ent.User, op string, args any, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: op, Partition: uaiA, Args: mustJSON(t, args), Time: at}
}

func blogPost(id, class, title string) ent.BlogPostArgs {
	return ent.BlogPostArgs{ID: id, Class: class, Title: title, Body: "Premier paragraphe.\nSecond paragraphe."}
}

// TestBlogExecRules runs commands in order on one store: each is accepted
// or refused with its code, and a refusal writes nothing.
func TestBlogExecRules(t *testing.T) {
	tx := homeworkTx(t)
	comment := func(id, post string) ent.BlogCommentArgs {
		return ent.BlogCommentArgs{ID: id, PostID: post, Body: "Merci !"}
	}
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student publishes", blogCmd(t, studentA, ent.OpBlogPublish, blogPost(blogP1, "", "Kermesse"), t0), "forbidden"},
		{"relative publishes", blogCmd(t, relativeA, ent.OpBlogPublish, blogPost(blogP1, "", "Kermesse"), t0), "forbidden"},
		{"former teacher publishes", blogCmd(t, formerA, ent.OpBlogPublish, blogPost(blogP1, "", "Kermesse"), t0), "forbidden"},
		{"teacher of another lycée", blogCmd(t, teacherB, ent.OpBlogPublish, blogPost(blogP1, "", "Kermesse"), t0), "forbidden"},
		{"teacher, class not theirs", blogCmd(t, teacherA, ent.OpBlogPublish, blogPost(blogP1, "2C", "Sortie"), t0), "forbidden"},
		{"region partition", record.Command{Origin: record.OriginCentral, User: teacherA.ID, Op: ent.OpBlogPublish,
			Partition: record.Region, Args: mustJSON(t, blogPost(blogP1, "", "Kermesse")), Time: t0}, "forbidden"},
		{"bad id", blogCmd(t, teacherA, ent.OpBlogPublish, blogPost("x", "", "Kermesse"), t0), "invalid"},
		{"no title", blogCmd(t, teacherA, ent.OpBlogPublish, blogPost(blogP1, "", "  "), t0), "invalid"},
		{"teacher, own class", blogCmd(t, teacherA, ent.OpBlogPublish, blogPost(blogP1, "1B", "Sortie au musée"), t0), ""},
		{"staff, any class", blogCmd(t, staffA, ent.OpBlogPublish, blogPost(blogP2, "2C", "Photo de classe"), t0), ""},
		{"student of another class comments", blogCmd(t, student2CA, ent.OpBlogComment, comment(blogC1, blogP1), t0+1), "forbidden"},
		{"relative of another class comments", blogCmd(t, relativeA, ent.OpBlogComment, comment(blogC1, blogP2), t0+1), "forbidden"},
		{"teacher of another class comments", blogCmd(t, teacher2CA, ent.OpBlogComment, comment(blogC1, blogP1), t0+1), "forbidden"},
		{"comment on unknown post", blogCmd(t, studentA, ent.OpBlogComment, comment(blogC1, hw1), t0+1), "not_found"},
		{"empty comment", blogCmd(t, studentA, ent.OpBlogComment, ent.BlogCommentArgs{ID: blogC1, PostID: blogP1, Body: " "}, t0+1), "invalid"},
		{"student of the class comments", blogCmd(t, studentA, ent.OpBlogComment, comment(blogC1, blogP1), t0+1), ""},
		{"relative of the class comments", blogCmd(t, relativeA, ent.OpBlogComment, comment(blogC2, blogP1), t0+2), ""},
		{"student of 2C comments on 2C", blogCmd(t, student2CA, ent.OpBlogComment, comment(blogC3, blogP2), t0+2), ""},
		{"another student deletes a comment", blogCmd(t, student2CA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogC1}, t0+3), "forbidden"},
		{"colleague deletes the post", blogCmd(t, colleagueA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogP1}, t0+3), "forbidden"},
		{"delete a user", blogCmd(t, teacherA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: studentA.ID}, t0+3), "not_found"},
		{"comment's author deletes it", blogCmd(t, studentA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogC1}, t0+3), ""},
		{"post's author deletes a comment", blogCmd(t, teacherA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogC2}, t0+3), ""},
		{"staff delete another's post", blogCmd(t, staffA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogP1}, t0+4), ""},
		{"comment on a deleted post", blogCmd(t, studentA, ent.OpBlogComment, comment("01890000-0000-7000-8000-0000000000c6", blogP1), t0+5), "not_found"},
		{"author of a 2C post deletes own", blogCmd(t, staffA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogP2}, t0+5), ""},
	}
	for _, tt := range tests {
		before := tx.puts
		err := ent.Exec(tx, tt.cmd)
		if got := code(err); got != tt.want {
			t.Errorf("%s: Exec = %q (%v), want %q", tt.name, got, err, tt.want)
		}
		if tt.want != "" && tx.puts != before {
			t.Errorf("%s: refused command wrote %d records", tt.name, tx.puts-before)
		}
	}
}

// TestBlogExecIdempotent: a retransmitted publish, comment or delete
// writes nothing, and a post deleted since stays deleted.
func TestBlogExecIdempotent(t *testing.T) {
	tx := homeworkTx(t)
	pub := blogCmd(t, teacherA, ent.OpBlogPublish, blogPost(blogP1, "", "Kermesse"), t0)
	com := blogCmd(t, studentA, ent.OpBlogComment, ent.BlogCommentArgs{ID: blogC1, PostID: blogP1, Body: "Super"}, t0+1)
	delC := blogCmd(t, teacherA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogC1}, t0+2)
	delP := blogCmd(t, teacherA, ent.OpBlogDelete, ent.BlogDeleteArgs{ID: blogP1}, t0+3)
	steps := []struct {
		name string
		cmd  record.Command
		puts int
	}{
		{"publish", pub, 1},
		{"publish again", pub, 0},
		{"comment", com, 1},
		{"comment again", com, 0},
		{"delete comment", delC, 1},
		{"delete comment again", delC, 0},
		{"comment after its deletion", com, 0},
		{"delete post", delP, 1},
		{"delete post again", delP, 0},
		{"publish after deletion", pub, 0},
	}
	for _, s := range steps {
		before := tx.puts
		if err := ent.Exec(tx, s.cmd); err != nil {
			t.Fatalf("%s: Exec = %v, want nil", s.name, err)
		}
		if got := tx.puts - before; got != s.puts {
			t.Errorf("%s: wrote %d records, want %d", s.name, got, s.puts)
		}
	}
}

func blogTitles(ps []ent.BlogPost) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Title)
	}
	return out
}

// TestBlogReaders checks who reads which posts (latest first) and who
// publishes where, through the Service.
func TestBlogReaders(t *testing.T) {
	svc, clk := homeworkService(t)
	ctx := t.Context()
	for _, w := range []struct {
		by    ent.User
		class string
		title string
	}{{staffA, "", "Lycée"}, {teacherA, "1B", "Classe 1B"}, {colleagueA, "TG2", "Classe TG2"}, {staffA, "2C", "Classe 2C"}} {
		clk.t = clk.t.Add(time.Second)
		if _, err := svc.PublishBlog(ctx, w.by, blogPost("", w.class, w.title)); err != nil {
			t.Fatalf("PublishBlog(%s, %q) = %v", w.by.Login, w.class, err)
		}
	}
	tests := []struct {
		user ent.User
		want []string
	}{
		{studentA, []string{"Classe 1B", "Lycée"}},
		{relativeA, []string{"Classe 1B", "Lycée"}},
		{student2CA, []string{"Classe 2C", "Lycée"}},
		{teacherA, []string{"Classe 1B", "Lycée"}},
		{colleagueA, []string{"Classe TG2", "Classe 1B", "Lycée"}},
		{teacher2CA, []string{"Classe 2C", "Lycée"}},
		{staffA, []string{"Classe 2C", "Classe TG2", "Classe 1B", "Lycée"}},
		{studentB, nil},
		{teacherB, nil},
		{regionUser, nil},
	}
	for _, tt := range tests {
		got, err := svc.ListBlog(ctx, tt.user)
		if err != nil {
			t.Fatalf("ListBlog(%s) = %v", tt.user.Login, err)
		}
		if diff := cmp.Diff(tt.want, blogTitles(got)); diff != "" {
			t.Errorf("ListBlog(%s) titles = %q, want %q", tt.user.Login, blogTitles(got), tt.want)
		}
	}
	all, _ := svc.ListBlog(ctx, staffA)
	for _, p := range all {
		if p.Class == "2C" {
			if _, err := svc.GetBlogPost(ctx, studentA, p.ID); !errors.Is(err, ent.ErrNotFound) {
				t.Errorf("GetBlogPost(eleve.a, 2C post) = %v, want ErrNotFound", err)
			}
			if _, err := svc.CommentBlog(ctx, relativeA, p.ID, "Bonjour"); !errors.Is(err, ent.ErrNotFound) {
				t.Errorf("CommentBlog(parent.a, 2C post) = %v, want ErrNotFound", err)
			}
		}
	}
	if _, err := svc.PublishBlog(ctx, studentA, blogPost("", "", "Élève")); code(err) != "forbidden" {
		t.Errorf("PublishBlog(student) = %v, want forbidden", err)
	}
	if _, err := svc.PublishBlog(ctx, teacherA, blogPost("", "2C", "Pas ma classe")); code(err) != "forbidden" {
		t.Errorf("PublishBlog(teacher, 2C) = %v, want forbidden", err)
	}
	if got, _ := svc.BlogClasses(ctx, teacherA); !cmp.Equal(got, []string{"1B"}) {
		t.Errorf("BlogClasses(teacher) = %q, want [1B]", got)
	}
	if got, _ := svc.BlogClasses(ctx, staffA); !cmp.Equal(got, []string{"1B", "2C", "TG2"}) {
		t.Errorf("BlogClasses(staff) = %q, want [1B 2C TG2]", got)
	}
	if got, _ := svc.BlogClasses(ctx, studentA); got != nil {
		t.Errorf("BlogClasses(student) = %q, want none", got)
	}
}

// TestBlogComments: readers comment, comments come oldest first, their
// author, the post's author or staff delete them; a deleted post is gone
// with its comments.
func TestBlogComments(t *testing.T) {
	svc, clk := homeworkService(t)
	ctx := t.Context()
	p, err := svc.PublishBlog(ctx, teacherA, blogPost("", "1B", "Sortie"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range []struct {
		by   ent.User
		body string
	}{{studentA, "Génial"}, {relativeA, "Merci"}, {staffA, "Bravo"}} {
		clk.t = clk.t.Add(time.Second)
		got, err := svc.CommentBlog(ctx, c.by, p.ID, c.body)
		if err != nil {
			t.Fatalf("CommentBlog(%s) = %v", c.by.Login, err)
		}
		ids = append(ids, got.ID)
	}
	if _, err := svc.CommentBlog(ctx, studentA, p.ID, "  "); code(err) != "invalid" {
		t.Errorf("CommentBlog(empty) = %v, want invalid", err)
	}
	got, err := svc.GetBlogPost(ctx, studentA, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, c := range got.Comments {
		bodies = append(bodies, c.Body)
	}
	if want := []string{"Génial", "Merci", "Bravo"}; !cmp.Equal(bodies, want) {
		t.Errorf("comments = %q, want %q", bodies, want)
	}
	if list, _ := svc.ListBlog(ctx, studentA); len(list) != 1 || list[0].CommentCount != 3 {
		t.Errorf("ListBlog comment count = %v, want 1 post with 3 comments", list)
	}
	if err := svc.DeleteBlogComment(ctx, relativeA, p.ID, ids[0]); code(err) != "forbidden" {
		t.Errorf("DeleteBlogComment(another's, by a relative) = %v, want forbidden", err)
	}
	if err := svc.DeleteBlogComment(ctx, studentA, p.ID, ids[0]); err != nil {
		t.Errorf("DeleteBlogComment(own) = %v", err)
	}
	if err := svc.DeleteBlogComment(ctx, teacherA, p.ID, ids[1]); err != nil {
		t.Errorf("DeleteBlogComment(by the post's author) = %v", err)
	}
	if err := svc.DeleteBlogComment(ctx, teacherA, p.ID, ids[0]); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("DeleteBlogComment(already deleted) = %v, want ErrNotFound", err)
	}
	if got, _ := svc.GetBlogPost(ctx, relativeA, p.ID); len(got.Comments) != 1 || got.Comments[0].Body != "Bravo" {
		t.Errorf("comments after deletions = %+v, want only Bravo", got.Comments)
	}
	if err := svc.DeleteBlogPost(ctx, colleagueA, p.ID); code(err) != "forbidden" {
		t.Errorf("DeleteBlogPost(colleague) = %v, want forbidden", err)
	}
	if err := svc.DeleteBlogPost(ctx, student2CA, p.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("DeleteBlogPost(student of another class) = %v, want ErrNotFound", err)
	}
	if err := svc.DeleteBlogPost(ctx, staffA, p.ID); err != nil {
		t.Fatalf("DeleteBlogPost(staff) = %v", err)
	}
	if _, err := svc.GetBlogPost(ctx, teacherA, p.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("GetBlogPost after delete = %v, want ErrNotFound", err)
	}
	if _, err := svc.CommentBlog(ctx, studentA, p.ID, "Encore"); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("CommentBlog on a deleted post = %v, want ErrNotFound", err)
	}
}

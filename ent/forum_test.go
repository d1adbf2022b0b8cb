package ent_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"atrium/ent"
	"atrium/record"
)

// The forum's tests reuse the users of the cahier de textes' tests:
// colleagueA teaches 1B and TG2, teacher2CA and student2CA are of 2C.

func forumCmd(t testing.TB, by ent.User, partition, op string, args any, at int64) record.Command {
	return record.Command{Origin: record.OriginCentral, User: by.ID, Op: op, Partition: partition,
		Args: mustJSON(t, args), Time: at}
}

const (
	forum1B   = "01890000-0000-7000-8000-0000000000f1"
	forumAdu  = "01890000-0000-7000-8000-0000000000f2"
	forumAll  = "01890000-0000-7000-8000-0000000000f3"
	topic1B   = "01890000-0000-7000-8000-0000000000f4"
	post1B    = "01890000-0000-7000-8000-0000000000f5"
	topicAdu  = "01890000-0000-7000-8000-0000000000f6"
	postOther = "01890000-0000-7000-8000-0000000000f7"
)

// TestForumExecRules runs commands in order on one store: each is accepted
// or refused with its code, and a refusal writes nothing.
func TestForumExecRules(t *testing.T) {
	tx := homeworkTx(t)
	class := func(id, class string) ent.ForumArgs {
		return ent.ForumArgs{ID: id, Title: "Forum " + class, Audience: ent.AudienceClass, Class: class}
	}
	wide := func(id, aud string) ent.ForumArgs {
		return ent.ForumArgs{ID: id, Title: "Forum " + aud, Audience: aud}
	}
	topic := func(id, forum string) ent.ForumTopicArgs {
		return ent.ForumTopicArgs{ID: id, ForumID: forum, Title: "Sujet", Body: "Bonjour à tous."}
	}
	post := func(id, topic string) ent.ForumPostArgs {
		return ent.ForumPostArgs{ID: id, TopicID: topic, Body: "Réponse."}
	}
	hide := func(id string) ent.ForumHideArgs { return ent.ForumHideArgs{ID: id} }
	tests := []struct {
		name string
		cmd  record.Command
		want string // rejection code; "" for accepted
	}{
		{"student creates", forumCmd(t, studentA, uaiA, ent.OpForumCreate, class(forum1B, "1B"), t0), "forbidden"},
		{"relative creates", forumCmd(t, relativeA, uaiA, ent.OpForumCreate, wide(forum1B, ent.AudienceAll), t0), "forbidden"},
		{"teacher of another class", forumCmd(t, teacher2CA, uaiA, ent.OpForumCreate, class(forum1B, "1B"), t0), "forbidden"},
		{"former teacher", forumCmd(t, formerA, uaiA, ent.OpForumCreate, class(forum1B, "1B"), t0), "forbidden"},
		{"teacher of another lycée", forumCmd(t, teacherB, uaiA, ent.OpForumCreate, class(forum1B, "1B"), t0), "forbidden"},
		{"region partition", forumCmd(t, staffA, record.Region, ent.OpForumCreate, wide(forum1B, ent.AudienceAll), t0), "forbidden"},
		{"teacher creates lycée-wide", forumCmd(t, teacherA, uaiA, ent.OpForumCreate, wide(forum1B, ent.AudienceAdults), t0), "forbidden"},
		{"bad audience", forumCmd(t, staffA, uaiA, ent.OpForumCreate, wide(forum1B, "amis"), t0), "invalid"},
		{"class forum without class", forumCmd(t, staffA, uaiA, ent.OpForumCreate, class(forum1B, " "), t0), "invalid"},
		{"bad id", forumCmd(t, teacherA, uaiA, ent.OpForumCreate, class("x", "1B"), t0), "invalid"},
		{"no title", forumCmd(t, teacherA, uaiA, ent.OpForumCreate, ent.ForumArgs{ID: forum1B, Title: " ", Audience: ent.AudienceClass, Class: "1B"}, t0), "invalid"},
		{"teacher of the class", forumCmd(t, teacherA, uaiA, ent.OpForumCreate, class(forum1B, "1B"), t0), ""},
		{"staff: adults", forumCmd(t, staffA, uaiA, ent.OpForumCreate, wide(forumAdu, ent.AudienceAdults), t0), ""},
		{"staff: everyone", forumCmd(t, staffA, uaiA, ent.OpForumCreate, wide(forumAll, ent.AudienceAll), t0), ""},
		{"relative in class forum", forumCmd(t, relativeA, uaiA, ent.OpForumTopic, topic(topic1B, forum1B), t0+1), "forbidden"},
		{"student of another class", forumCmd(t, student2CA, uaiA, ent.OpForumTopic, topic(topic1B, forum1B), t0+1), "forbidden"},
		{"student in adults forum", forumCmd(t, studentA, uaiA, ent.OpForumTopic, topic(topic1B, forumAdu), t0+1), "forbidden"},
		{"relative in adults forum", forumCmd(t, relativeA, uaiA, ent.OpForumTopic, topic(topic1B, forumAdu), t0+1), "forbidden"},
		{"topic in unknown forum", forumCmd(t, studentA, uaiA, ent.OpForumTopic, topic(topic1B, "01890000-0000-7000-8000-0000000000ff"), t0+1), "not_found"},
		{"topic in a user", forumCmd(t, studentA, uaiA, ent.OpForumTopic, topic(topic1B, studentA.ID), t0+1), "not_found"},
		{"topic without text", forumCmd(t, studentA, uaiA, ent.OpForumTopic, ent.ForumTopicArgs{ID: topic1B, ForumID: forum1B, Title: "T"}, t0+1), "invalid"},
		{"student of the class", forumCmd(t, studentA, uaiA, ent.OpForumTopic, topic(topic1B, forum1B), t0+1), ""},
		{"teacher in adults forum", forumCmd(t, teacher2CA, uaiA, ent.OpForumTopic, topic(topicAdu, forumAdu), t0+1), ""},
		{"reply by another class", forumCmd(t, student2CA, uaiA, ent.OpForumPost, post(post1B, topic1B), t0+2), "forbidden"},
		{"reply by a relative", forumCmd(t, relativeA, uaiA, ent.OpForumPost, post(post1B, topic1B), t0+2), "forbidden"},
		{"reply to unknown topic", forumCmd(t, studentA, uaiA, ent.OpForumPost, post(post1B, forum1B), t0+2), "not_found"},
		{"empty reply", forumCmd(t, studentA, uaiA, ent.OpForumPost, ent.ForumPostArgs{ID: post1B, TopicID: topic1B, Body: " "}, t0+2), "invalid"},
		{"reply by staff", forumCmd(t, staffA, uaiA, ent.OpForumPost, post(postOther, topic1B), t0+2), ""},
		{"reply by the class", forumCmd(t, colleagueA, uaiA, ent.OpForumPost, post(post1B, topic1B), t0+2), ""},
		{"teacher hides", forumCmd(t, teacherA, uaiA, ent.OpForumHide, hide(post1B), t0+3), "forbidden"},
		{"student hides", forumCmd(t, studentA, uaiA, ent.OpForumHide, hide(post1B), t0+3), "forbidden"},
		{"hide a topic", forumCmd(t, staffA, uaiA, ent.OpForumHide, hide(topic1B), t0+3), "not_found"},
		{"staff hides", forumCmd(t, staffA, uaiA, ent.OpForumHide, hide(post1B), t0+3), ""},
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

// TestForumExecIdempotent: a retransmitted creation, topic, reply or hide
// writes nothing.
func TestForumExecIdempotent(t *testing.T) {
	tx := homeworkTx(t)
	create := forumCmd(t, teacherA, uaiA, ent.OpForumCreate, ent.ForumArgs{ID: forum1B, Title: "1B", Audience: ent.AudienceClass, Class: "1B"}, t0)
	topic := forumCmd(t, studentA, uaiA, ent.OpForumTopic, ent.ForumTopicArgs{ID: topic1B, ForumID: forum1B, Title: "T", Body: "B"}, t0+1)
	post := forumCmd(t, studentA, uaiA, ent.OpForumPost, ent.ForumPostArgs{ID: post1B, TopicID: topic1B, Body: "R"}, t0+2)
	hide := forumCmd(t, staffA, uaiA, ent.OpForumHide, ent.ForumHideArgs{ID: post1B}, t0+3)
	steps := []struct {
		name string
		cmd  record.Command
		puts int
	}{
		{"create", create, 1}, {"create again", create, 0},
		{"topic", topic, 1}, {"topic again", topic, 0},
		{"post", post, 1}, {"post again", post, 0},
		{"hide", hide, 1}, {"hide again", hide, 0},
		{"post again after hide", post, 0},
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

func forumTitles(fs []ent.Forum) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Title)
	}
	return out
}

// TestForumReaders checks who reads which forum, through the Service.
func TestForumReaders(t *testing.T) {
	svc, _ := homeworkService(t)
	ctx := t.Context()
	for _, c := range []struct {
		by ent.User
		a  ent.ForumArgs
	}{
		{teacherA, ent.ForumArgs{Title: "Forum 1B", Audience: ent.AudienceClass, Class: "1B"}},
		{teacher2CA, ent.ForumArgs{Title: "Forum 2C", Audience: ent.AudienceClass, Class: "2C"}},
		{staffA, ent.ForumArgs{Title: "Salle des profs", Audience: ent.AudienceAdults}},
		{staffA, ent.ForumArgs{Title: "Vie du lycée", Audience: ent.AudienceAll}},
	} {
		if _, err := svc.CreateForum(ctx, c.by, c.a); err != nil {
			t.Fatalf("CreateForum(%s, %q) = %v", c.by.Login, c.a.Title, err)
		}
	}
	tests := []struct {
		user ent.User
		want []string
	}{
		{studentA, []string{"Forum 1B", "Vie du lycée"}},
		{student2CA, []string{"Forum 2C", "Vie du lycée"}},
		{relativeA, []string{"Vie du lycée"}},
		{teacherA, []string{"Forum 1B", "Salle des profs", "Vie du lycée"}},
		{teacher2CA, []string{"Forum 2C", "Salle des profs", "Vie du lycée"}},
		{staffA, []string{"Forum 1B", "Forum 2C", "Salle des profs", "Vie du lycée"}},
		{studentB, nil},
		{teacherB, nil},
		{regionUser, nil},
	}
	all, _ := svc.ListForums(ctx, staffA)
	for _, tt := range tests {
		got, err := svc.ListForums(ctx, tt.user)
		if err != nil {
			t.Fatalf("ListForums(%s) = %v", tt.user.Login, err)
		}
		if !slices.Equal(forumTitles(got), tt.want) {
			t.Errorf("ListForums(%s) = %q, want %q", tt.user.Login, forumTitles(got), tt.want)
		}
		for _, f := range all {
			_, _, err := svc.GetForum(ctx, tt.user, f.ID)
			if reads := slices.Contains(tt.want, f.Title); reads != (err == nil) || (!reads && !errors.Is(err, ent.ErrNotFound)) {
				t.Errorf("GetForum(%s, %q) = %v, want readable %v", tt.user.Login, f.Title, err, reads)
			}
		}
	}
	if _, err := svc.CreateForum(ctx, teacherA, ent.ForumArgs{Title: "X", Audience: ent.AudienceAll}); code(err) != "forbidden" {
		t.Errorf("CreateForum(teacher, tous) = %v, want forbidden", err)
	}
	if _, err := svc.CreateForum(ctx, studentA, ent.ForumArgs{Title: "X", Audience: ent.AudienceClass, Class: "1B"}); code(err) != "forbidden" {
		t.Errorf("CreateForum(student) = %v, want forbidden", err)
	}
}

// TestForumDiscussion: a topic and its replies, the counts, the
// moderation, and who may write.
func TestForumDiscussion(t *testing.T) {
	svc, clk := homeworkService(t)
	ctx := t.Context()
	f, err := svc.CreateForum(ctx, teacherA, ent.ForumArgs{Title: "Forum 1B", Audience: ent.AudienceClass, Class: "1B"})
	if err != nil {
		t.Fatal(err)
	}
	topic, err := svc.CreateForumTopic(ctx, studentA, ent.ForumTopicArgs{ForumID: f.ID, Title: "Exposé", Body: "Qui est avec moi ?"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateForumTopic(ctx, student2CA, ent.ForumTopicArgs{ForumID: f.ID, Title: "Intrus", Body: "Coucou"}); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("CreateForumTopic by a student of 2C = %v, want ErrNotFound", err)
	}
	var replies []ent.ForumPost
	for _, r := range []struct {
		by   ent.User
		body string
	}{{teacherA, "Moi, je vous aide."}, {studentA, "Message déplacé"}, {staffA, "Rappel : restez courtois."}} {
		clk.t = clk.t.Add(time.Second)
		p, err := svc.ReplyForumTopic(ctx, r.by, ent.ForumPostArgs{TopicID: topic.ID, Body: r.body})
		if err != nil {
			t.Fatalf("ReplyForumTopic(%s) = %v", r.by.Login, err)
		}
		replies = append(replies, p)
	}
	if _, err := svc.ReplyForumTopic(ctx, relativeA, ent.ForumPostArgs{TopicID: topic.ID, Body: "Bonjour"}); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("ReplyForumTopic by a relative = %v, want ErrNotFound", err)
	}
	if err := svc.HideForumPost(ctx, teacherA, replies[1].ID); code(err) != "forbidden" {
		t.Errorf("HideForumPost by a teacher = %v, want forbidden", err)
	}
	if err := svc.HideForumPost(ctx, staffA, topic.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("HideForumPost(topic) = %v, want ErrNotFound", err)
	}
	if err := svc.HideForumPost(ctx, staffA, replies[1].ID); err != nil {
		t.Fatalf("HideForumPost by staff = %v", err)
	}
	got, gf, posts, err := svc.GetForumTopic(ctx, studentA, topic.ID)
	if err != nil {
		t.Fatal(err)
	}
	if gf.ID != f.ID || got.Title != "Exposé" || got.Replies != 3 || len(posts) != 3 {
		t.Fatalf("GetForumTopic = %+v in %q with %d replies, want Exposé in Forum 1B with 3", got, gf.Title, len(posts))
	}
	for i, p := range posts {
		wantHidden := i == 1
		if p.ID != replies[i].ID || p.Hidden != wantHidden || (p.Body == "") != wantHidden {
			t.Errorf("reply %d = %+v, want %s hidden=%v", i, p, replies[i].ID, wantHidden)
		}
	}
	_, topics, err := svc.GetForum(ctx, teacherA, f.ID)
	if err != nil || len(topics) != 1 || topics[0].Replies != 3 || !topics[0].LastPost.Equal(replies[2].Created) {
		t.Errorf("GetForum topics = %+v, %v; want one topic with 3 replies, last activity at the last reply", topics, err)
	}
	if list, _ := svc.ListForums(ctx, studentA); len(list) != 1 || list[0].Topics != 1 {
		t.Errorf("ListForums(student) = %+v, want Forum 1B with 1 topic", list)
	}
	if _, _, _, err := svc.GetForumTopic(ctx, relativeA, topic.ID); !errors.Is(err, ent.ErrNotFound) {
		t.Errorf("GetForumTopic by a relative = %v, want ErrNotFound", err)
	}
}

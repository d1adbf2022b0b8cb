package record

import (
	"encoding/json"

	"github.com/google/uuid"
)

// Refusal notices. Central executes again every command an edge made; when
// it refuses one, its state machine leaves a Notice in the command's
// partition, so that the author hears of it wherever they read: the
// partition reaches the edge like any other. The ENT reads notices (to
// list a user's notices); the edge that made the command takes back what
// it wrote locally (edge/undo.go); only central writes them.

// KindNotice is the kind of the record that tells the author of a command
// made at an edge that central refused it.
const KindNotice = "notice"

// Notice is the body of a KindNotice record. The JSON is stored: fields are
// only ever added. The record's id is UUIDv7-shaped with the command's time
// in its top 48 bits (NoticeTime reads it back).
type Notice struct {
	User    string `json:"user"`    // the command's author (Command.User)
	Op      string `json:"op"`      // the command's Op
	Code    string `json:"code"`    // the Rejection's code, "error" for another failure
	Message string `json:"message"` // French, for the author
	Seq     uint64 `json:"seq"`     // the command's place in its edge's outbox
	// Args are the command's arguments, so that its author is told which
	// object it was about (a slot, a ticket); absent from older notices.
	Args json.RawMessage `json:"args,omitempty"`
	// Origin and Epoch are the command's (Command.Origin, Command.Epoch):
	// with Seq they name the command, so that its edge takes back what it
	// wrote locally (edge/undo.go); absent from older notices.
	Origin string `json:"origin,omitempty"`
	Epoch  uint64 `json:"epoch,omitempty"`
}

// KindNoticeIndex is the kind of the record that lists the notices of one
// author in one partition, so that reading them (and counting the unread
// ones, on every page) is a lookup by id, not a scan. Central writes it
// with the notice, in the same transaction.
const KindNoticeIndex = "notice.index"

// NoticeIndex is the body of a KindNoticeIndex record.
type NoticeIndex struct {
	Notices []string `json:"notices"` // ids of the author's notices, oldest first
}

// noticeIndexSpace is the UUID namespace of NoticeIndexID.
var noticeIndexSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://atrium.region/notice-index"))

// NoticeIndexID is the id of the KindNoticeIndex record of user's notices
// in partition: derived from both, so that every node finds it by Get.
func NoticeIndexID(partition, user string) string {
	return uuid.NewSHA1(noticeIndexSpace, []byte(partition+"\x00"+user)).String()
}

// NoticeTime returns the time (unix ms) of the command a notice is about,
// read from the notice's id, or false for an id of another shape.
func NoticeTime(id string) (int64, bool) {
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 {
		return 0, false
	}
	var ms int64
	for _, b := range u[:6] {
		ms = ms<<8 | int64(b)
	}
	return ms, true
}

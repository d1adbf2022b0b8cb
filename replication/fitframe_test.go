package replication

import (
	"testing"

	"atrium/record"
)

// TestFitFrame: a push never exceeds a frame's soft size unless its first
// command alone does, and never drops below one command.
func TestFitFrame(t *testing.T) {
	cmd := func(size int) record.Command { return record.Command{Op: "file.chunk", Args: make([]byte, size)} }
	big := softFrameSize / 3
	tests := []struct {
		sizes []int
		want  int
	}{
		{[]int{10, 10, 10}, 3},
		{[]int{big, big, big, big}, 2},
		{[]int{softFrameSize * 2, 10}, 1},
		{[]int{10}, 1},
	}
	for _, tt := range tests {
		var cmds []record.Command
		for _, s := range tt.sizes {
			cmds = append(cmds, cmd(s))
		}
		if got := len(fitFrame(cmds)); got != tt.want {
			t.Errorf("fitFrame(sizes %v) kept %d commands, want %d", tt.sizes, got, tt.want)
		}
	}
}

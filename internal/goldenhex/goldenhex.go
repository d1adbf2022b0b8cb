package goldenhex

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Format returns the file of b: each of the comment lines behind "# ",
// then Lines(b).
func Format(b []byte, comments ...string) []byte {
	var sb strings.Builder
	for _, c := range comments {
		sb.WriteString("# " + c + "\n")
	}
	sb.WriteString(Lines(b))
	return []byte(sb.String())
}

// Lines writes b as hex, 16 bytes a line.
func Lines(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 16 {
		for j, c := range b[i:min(i+16, len(b))] {
			if j > 0 {
				sb.WriteByte(' ')
			}
			fmt.Fprintf(&sb, "%02x", c)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Parse returns the bytes of a file written by Format, skipping comments.
func Parse(text []byte) ([]byte, error) {
	var digits strings.Builder
	for line := range strings.Lines(string(text)) {
		if !strings.HasPrefix(line, "#") {
			digits.WriteString(strings.Join(strings.Fields(line), ""))
		}
	}
	return hex.DecodeString(digits.String())
}

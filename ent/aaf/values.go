package aaf

import "strings"

// Split cuts a $-separated composite value into its fields, keeping empty
// fields so positions stay meaningful: Split("0130040Y$2NDE1") is
// ["0130040Y" "2NDE1"], Split("a$$b") is ["a" "" "b"]. Split("") is nil.
func Split(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, "$")
}

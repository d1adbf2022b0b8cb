package ent

import "slices"

// Choice is one of a closed list of codes a service stores (a ticket's
// category, an absence's status, an asset's kind…) and the French label
// its forms and pages show.
type Choice struct {
	Code  string
	Label string
}

// choiceLabel returns the label of code among choices, or code itself and
// false when it is not one of them.
func choiceLabel(choices []Choice, code string) (string, bool) {
	for _, c := range choices {
		if c.Code == code {
			return c.Label, true
		}
	}
	return code, false
}

// sortedNames returns the non-empty names of a set, sorted: the classes or
// disciplines a form offers.
func sortedNames(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for n := range set {
		if n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

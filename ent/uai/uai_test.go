package uai

import "testing"

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0130040Y", true},  // Marseille
		{"0060030A", true},  // Nice
		{"0130040Z", false}, // wrong letter
		{"0130040y", false}, // lower case
		{"013004Y", false},  // too short
		{"01300400Y", false},
		{"2A30040Y", false}, // Corsica is numbered 620/720
		{"", false},
		{"013O040Y", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckLetter(t *testing.T) {
	tests := []struct {
		in   string
		want byte
	}{
		{"0130040", 'Y'},
		{"0060030", 'A'},
		{"0000000", 'A'},
		{"0000022", 'Z'},
		{"0000008", 'J'}, // I is skipped
		{"013004", 0},
		{"01300x0", 0},
	}
	for _, tt := range tests {
		if got := CheckLetter(tt.in); got != tt.want {
			t.Errorf("CheckLetter(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add("0130040Y")
	f.Add("2A00001X")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) && CheckLetter(s[:7]) != s[7] {
			t.Fatalf("Valid(%q) accepted a wrong check letter", s)
		}
	})
}

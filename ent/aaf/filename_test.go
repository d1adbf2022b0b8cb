package aaf

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFileName(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name string
		want FileInfo
	}{
		{"ENT2D.AIX_Complet_20260901_Eleve_0000.xml", FileInfo{Prefix: "ENT2D.AIX", Complet: true, Date: day(2026, 9, 1), Category: Eleve, Part: 0}},
		{"/srv/aaf/ENT_NICE_Complet_20261130_PersEducNat_0012.xml", FileInfo{Prefix: "ENT_NICE", Complet: true, Date: day(2026, 11, 30), Category: PersEducNat, Part: 12}},
		{"ENT_Delta_20261002_PersRelEleve_0003.XML", FileInfo{Prefix: "ENT", Date: day(2026, 10, 2), Category: PersRelEleve, Part: 3}},
		{"Complet_20260901_EtabEducNat_0001.xml", FileInfo{Complet: true, Date: day(2026, 9, 1), Category: EtabEducNat, Part: 1}},
		{"X_Complet_20260901_MefEducNat_0000.xml", FileInfo{Prefix: "X", Complet: true, Date: day(2026, 9, 1), Category: MefEducNat}},
		{"X_Complet_20260901_MatiereEducNat_0000.xml", FileInfo{Prefix: "X", Complet: true, Date: day(2026, 9, 1), Category: MatiereEducNat}},
	}
	for _, tt := range tests {
		got, err := ParseFileName(tt.name)
		if err != nil {
			t.Errorf("ParseFileName(%q) = %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseFileName(%q) mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestParseFileNameErrors(t *testing.T) {
	for _, name := range []string{
		"",
		"notes.txt",
		"ENT_Complet_20260901_Eleve_0000.csv",
		"ENT_Complet_20261301_Eleve_0000.xml", // month 13
		"ENT_Complet_2026091_Eleve_0000.xml",  // short date
		"ENT_Complet_20260901_Parent_0000.xml",
		"ENT_Partiel_20260901_Eleve_0000.xml",
		"ENT_Complet_20260901_Eleve_.xml",
		"ENT_Complet_20260901_Eleve_0000.xml.gz",
	} {
		if got, err := ParseFileName(name); !errors.Is(err, ErrFileName) {
			t.Errorf("ParseFileName(%q) = %+v, %v, want ErrFileName", name, got, err)
		}
	}
}

func TestCategoryOrder(t *testing.T) {
	want := []string{"EtabEducNat", "MatiereEducNat", "MefEducNat", "Eleve", "PersRelEleve", "PersEducNat"}
	got := CategoryOrder()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CategoryOrder() mismatch (-want +got):\n%s", diff)
	}
	got[0] = "changed"
	if CategoryOrder()[0] != EtabEducNat {
		t.Error("CategoryOrder() returns a shared slice")
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"0130040Y", []string{"0130040Y"}},
		{"0130040Y$2NDE1", []string{"0130040Y", "2NDE1"}},
		{"0130040Y$ENS$ENSEIGNEMENT$L0201$LETTRES MODERNES", []string{"0130040Y", "ENS", "ENSEIGNEMENT", "L0201", "LETTRES MODERNES"}},
		{"1234567$10$1$1$0$1", []string{"1234567", "10", "1", "1", "0", "1"}},
		{"a$$b$", []string{"a", "", "b", ""}},
	}
	for _, tt := range tests {
		if got := Split(tt.in); !cmp.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

package aaf

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The categories of AAF files.
const (
	EtabEducNat    = "EtabEducNat"    // establishments
	MatiereEducNat = "MatiereEducNat" // subjects
	MefEducNat     = "MefEducNat"     // MEF (formations)
	Eleve          = "Eleve"          // students
	PersRelEleve   = "PersRelEleve"   // relatives
	PersEducNat    = "PersEducNat"    // staff and teachers

	// Agricole is the category of a CSV file of agricultural lycées
	// (csv.go): one file carries a whole set, structures and people. It is
	// a file category only, never an operation's: the operations a
	// CSVReader returns carry the categories above.
	Agricole = "Agricole"
)

// CategoryOrder returns the categories in the order an importer applies
// them: structures and references first, then students, their relatives
// (who point at students) and staff.
func CategoryOrder() []string {
	return []string{EtabEducNat, MatiereEducNat, MefEducNat, Eleve, PersRelEleve, PersEducNat}
}

// FileInfo is what an AAF file's name says.
type FileInfo struct {
	Prefix   string    // whatever precedes _Complet_ or _Delta_ (may be empty)
	Complet  bool      // a full export; false for a daily Delta
	Date     time.Time // the export's day, midnight UTC
	Category string    // one of CategoryOrder, or Agricole
	Part     int       // the NNNN sequence number
}

var fileName = regexp.MustCompile(`^(?:(.*)_)?(Complet|Delta)_([0-9]{8})_([A-Za-z]+)_([0-9]{1,9})\.((?i:xml|csv))$`)

// ParseFileName parses an AAF file name (a directory part is ignored):
// PREFIX_Complet_AAAAMMJJ_Category_NNNN.xml for a full export and
// PREFIX_Delta_AAAAMMJJ_Category_NNNN.xml for a daily delta. Any prefix is
// accepted; the Delta shape is assumed to mirror the Complet one. The
// category must be one of CategoryOrder. The CSV files of agricultural
// lycées are named PREFIX_Complet_AAAAMMJJ_Agricole_NNNN.csv: category
// Agricole, always Complet, always .csv (and .csv is for them only).
// Errors wrap ErrFileName.
func ParseFileName(name string) (FileInfo, error) {
	base := filepath.Base(name)
	m := fileName.FindStringSubmatch(base)
	if m == nil {
		return FileInfo{}, fmt.Errorf("%w: %q (want …_Complet|Delta_AAAAMMJJ_Category_NNNN.xml)", ErrFileName, base)
	}
	if csv := strings.EqualFold(m[6], "csv"); csv != (m[4] == Agricole) {
		if csv {
			return FileInfo{}, fmt.Errorf("%w: %q: a .csv file must be of category %s", ErrFileName, base, Agricole)
		}
		return FileInfo{}, fmt.Errorf("%w: %q: category %s is a .csv file", ErrFileName, base, Agricole)
	}
	if m[4] == Agricole && m[2] != "Complet" {
		return FileInfo{}, fmt.Errorf("%w: %q: an %s file is always a Complet", ErrFileName, base, Agricole)
	}
	date, err := time.Parse("20060102", m[3])
	if err != nil {
		return FileInfo{}, fmt.Errorf("%w: %q: bad date %s", ErrFileName, base, m[3])
	}
	known := m[4] == Agricole
	for _, c := range CategoryOrder() {
		known = known || c == m[4]
	}
	if !known {
		return FileInfo{}, fmt.Errorf("%w: %q: unknown category %q", ErrFileName, base, m[4])
	}
	part, err := strconv.Atoi(m[5])
	if err != nil {
		return FileInfo{}, fmt.Errorf("%w: %q: bad part number %s", ErrFileName, base, m[5])
	}
	return FileInfo{Prefix: m[1], Complet: m[2] == "Complet", Date: date, Category: m[4], Part: part}, nil
}

package aaf

// The fixed tables the synthetic generator draws from. Every string is
// representable in ISO-8859-15 (one generated file is written in it).

type genAcademie struct {
	name   string // as in file names and the header comment
	domain string // staff mail domain
	depts  []genDept
}

type genDept struct {
	code   string // the UAI's first three digits
	cities []genCity
}

type genCity struct{ name, postal, phone string }

// genAcademies are the region's two académies with their départements:
// Aix-Marseille (04, 05, 13, 84) and Nice (06, 83).
var genAcademies = []genAcademie{
	{name: "AIX-MARSEILLE", domain: "ac-aix-marseille.fr", depts: []genDept{
		{"013", []genCity{{"Marseille", "13001", "04 91"}, {"Marseille", "13008", "04 91"}, {"Aix-en-Provence", "13100", "04 42"},
			{"Arles", "13200", "04 90"}, {"Aubagne", "13400", "04 42"}, {"Martigues", "13500", "04 42"}, {"Salon-de-Provence", "13300", "04 90"}}},
		{"084", []genCity{{"Avignon", "84000", "04 90"}, {"Carpentras", "84200", "04 90"}, {"Orange", "84100", "04 90"}, {"Cavaillon", "84300", "04 90"}}},
		{"004", []genCity{{"Digne-les-Bains", "04000", "04 92"}, {"Manosque", "04100", "04 92"}}},
		{"005", []genCity{{"Gap", "05000", "04 92"}, {"Briançon", "05100", "04 92"}}},
	}},
	{name: "NICE", domain: "ac-nice.fr", depts: []genDept{
		{"006", []genCity{{"Nice", "06000", "04 93"}, {"Cannes", "06400", "04 93"}, {"Antibes", "06600", "04 93"}, {"Grasse", "06130", "04 93"}, {"Menton", "06500", "04 93"}}},
		{"083", []genCity{{"Toulon", "83000", "04 94"}, {"Fréjus", "83600", "04 94"}, {"Draguignan", "83300", "04 94"}, {"Hyères", "83400", "04 94"}, {"La Seyne-sur-Mer", "83500", "04 94"}}},
	}},
}

var genPatrons = []string{
	"THIERS", "MARCEL PAGNOL", "PAUL CEZANNE", "FREDERIC MISTRAL", "EMILE ZOLA", "VICTOR HUGO", "JEAN MOULIN",
	"MARIE CURIE", "ALBERT CAMUS", "SIMONE VEIL", "GEORGES BRASSENS", "LOUIS PASTEUR", "HONORE DAUMIER",
	"ANTOINE DE SAINT-EXUPERY", "JULES FERRY", "MASSENA", "DUMONT D'URVILLE", "ALPHONSE DAUDET", "EDMOND ROSTAND", "LUMIERE",
}

var genSurnames = []string{
	"Martin", "Bernard", "Durand", "Lefèvre", "Mercier", "Dupré", "Chevalier", "François", "Noël", "Gauthier",
	"Garcia", "Rossi", "Fabre", "Roux", "Blanc", "Girard", "Bonnet", "Arnaud", "Giraud", "Barthélémy",
	"Olivier", "Aubert", "Rey", "Pélissier", "Mistral", "Castel", "Benoît", "Meunier", "Lambert", "Fournier",
	"Boyer", "Perrin", "Colin", "Bérenger", "Esposito", "Moulin", "Michel", "Leroy", "Ferrand", "Baptiste",
	"Sanchez", "Martinez", "Benali", "Haddad", "Nguyen", "Ollivier", "Audibert", "Reynaud", "Bourrelly", "Jourdan",
	"Vidal", "Brémond", "D'Agostino", "Le Gall", "Œillet", "Marchetti", "Ribeiro", "Pons", "Imbert", "Cœurdevey",
}

var genGivenF = []string{
	"Léa", "Chloé", "Zoé", "Emma", "Inès", "Camille", "Manon", "Jade", "Louise", "Maëlle",
	"Anaïs", "Clémence", "Hélène", "Sarah", "Lina", "Célia", "Océane", "Mélissa", "Agathe", "Noémie",
	"Nathalie", "Sophie", "Isabelle", "Valérie", "Sandrine", "Céline", "Françoise", "Aurélie", "Émilie", "Stéphanie",
}

var genGivenM = []string{
	"Lucas", "Hugo", "Léo", "Gabriel", "Raphaël", "Nathan", "Théo", "Mathis", "Enzo", "Noah",
	"Loïc", "Gaëtan", "Jérôme", "Maël", "Yanis", "Clément", "Adrien", "Rémi", "Bastien", "Éric",
	"Stéphane", "Frédéric", "Benoît", "Olivier", "Thierry", "Sébastien", "Christophe", "Laurent", "Franck", "José",
}

var genStreets = []string{
	"rue de la République", "boulevard Longchamp", "avenue des Pins", "chemin des Oliviers", "rue Paradis",
	"place des Lices", "avenue Jean Jaurès", "rue des Écoles", "traverse de la Gaffette", "montée des Lavandes",
}

type genSubject struct {
	code, label        string // MatiereEducNat id and ENTLibelleMatiere
	discipline, dlabel string // the teachers' discipline (Lxxxx) and its label
}

var genSubjects = []genSubject{
	{"030201", "FRANCAIS", "L0202", "LETTRES MODERNES"},
	{"061300", "MATHEMATIQUES", "L1300", "MATHEMATIQUES"},
	{"040600", "HISTOIRE-GEOGRAPHIE", "L1000", "HISTOIRE GEOGRAPHIE"},
	{"030602", "ANGLAIS LV1", "L0422", "ANGLAIS"},
	{"030502", "ESPAGNOL LV2", "L0426", "ESPAGNOL"},
	{"030402", "ITALIEN LV2", "L0429", "ITALIEN"},
	{"061800", "PHYSIQUE-CHIMIE", "L1500", "PHYSIQUE CHIMIE"},
	{"062900", "SCIENCES VIE & TERRE", "L1600", "SCIENCES VIE ET TERRE"},
	{"100100", "ED.PHYSIQUE & SPORT.", "L1900", "EDUCATION PHYSIQUE ET SPORTIVE"},
	{"076700", "SC. ECONO.& SOCIALES", "L1100", "SCIENCES ECONOMIQUES ET SOCIALES"},
	{"013000", "PHILOSOPHIE", "L0100", "PHILOSOPHIE"},
}

// genLevels are the lycée's three years: class prefix, MEF code and label.
var genLevels = []struct{ class, mef, label string }{
	{"2NDE", "20010018110", "2NDE GENERALE & TECHNO.YC BT"},
	{"1ERE", "20111010110", "1ERE GENERALE"},
	{"TLE", "20211010110", "TERMINALE GENERALE"},
}

// genFunctions are the non-teaching staff's functions, in the order a
// lycée's staff receive them (the first is the proviseur).
var genFunctions = []struct{ code, label, title string }{
	{"DIR", "DIRECTION", "DIR"},
	{"EDU", "EDUCATION", "EDU"},
	{"ADF", "PERSONNELS ADMINISTRATIFS", "ADF"},
	{"DOC", "DOCUMENTATION", "DOC"},
	{"MDS", "PERSONNELS MEDICO-SOCIAUX", "MDS"},
	{"LAB", "PERSONNELS DE LABORATOIRE", "LAB"},
	{"DIR", "DIRECTION", "DIR"},
	{"ADF", "PERSONNELS ADMINISTRATIFS", "ADF"},
}

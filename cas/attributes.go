package cas

import (
	"strings"
	"time"

	"atrium/ent"
)

// attr is one value of a user attribute released to a service; a
// multi-valued attribute is several attrs of the same name, in order.
type attr struct {
	Name  string
	Value string
}

// attrList builds an attribute list, skipping empty values.
type attrList []attr

func (l *attrList) add(name string, values ...string) {
	for _, v := range values {
		if v != "" {
			*l = append(*l, attr{name, v})
		}
	}
}

// attributes returns what a service of the given attribute profile
// receives about u (docs/cas.md lists each set). An unknown profile gets
// the generic set.
func attributes(profile string, u ent.User) []attr {
	nom, prenom := names(u)
	var l attrList
	switch profile {
	case ent.CASPronote:
		l.add("nom", nom)
		l.add("prenom", prenom)
		l.add("dateNaissance", frenchDate(u.BirthDate))
		l.add("categories", pronoteCategory(u.Profile))
		l.add("ENTPersonStructRattach", u.UAI)
		l.add("ENTPersonJointure", u.JoinKey)
	case ent.CASGRR:
		l.add("uid", u.Login)
		l.add("nom", nom)
		l.add("prenom", prenom)
		l.add("statut", grrStatus(u.Profile))
	case ent.CASMoodle:
		l.add("username", u.Login)
		l.add("firstname", prenom)
		l.add("lastname", nom)
		l.add("profile", u.Profile)
		l.add("UAI", u.UAI)
	case ent.CASGLPI:
		l.add("uid", u.Login)
		l.add("nom", nom)
		l.add("prenom", prenom)
		l.add("profile", u.Profile)
		l.add("UAI", u.UAI)
	default: // ent.CASGeneric
		l.add("uid", u.Login)
		l.add("ENTPersonProfils", nationalProfile(u.Profile))
		l.add("ENTPersonStructRattach", u.UAI)
		l.add("ENTPersonJointure", u.JoinKey)
		l.add("nom", nom)
		l.add("prenom", prenom)
		switch u.Profile {
		case ent.Student:
			l.add("ENTEleveClasses", u.Classes...)
		case ent.Teacher:
			l.add("ENTAuxEnsClasses", u.Classes...)
		}
	}
	return l
}

// names returns the user's surname and given name as the directory gives
// them; for an account not imported, from its display name ("Prénom Nom":
// the first word is the given name, the rest the surname; one word is a
// surname).
func names(u ent.User) (nom, prenom string) {
	if u.Surname != "" || u.GivenName != "" {
		return u.Surname, u.GivenName
	}
	f := strings.Fields(u.Name)
	switch len(f) {
	case 0:
		return "", ""
	case 1:
		return f[0], ""
	}
	return strings.Join(f[1:], " "), f[0]
}

// nationalProfile is the SDET profile code of ENTPersonProfils. Région
// staff have none: tools must not mistake them for a lycée's personnel.
func nationalProfile(p string) string {
	switch p {
	case ent.Student:
		return "National_1"
	case ent.Relative:
		return "National_2"
	case ent.Teacher:
		return "National_3"
	case ent.Personnel:
		return "National_4"
	}
	return ""
}

// pronoteCategory is Pronote's "categories" value; none for Région staff.
func pronoteCategory(p string) string {
	switch p {
	case ent.Student:
		return "Eleve"
	case ent.Relative:
		return "Responsable"
	case ent.Teacher:
		return "Enseignant"
	case ent.Personnel:
		return "Personnel"
	}
	return ""
}

// grrStatus is GRR's "statut" value; none for Région staff.
func grrStatus(p string) string {
	switch p {
	case ent.Student:
		return "eleve"
	case ent.Relative:
		return "responsable"
	case ent.Teacher:
		return "enseignant"
	case ent.Personnel:
		return "personnel"
	}
	return ""
}

// frenchDate turns AAAA-MM-JJ into JJ/MM/AAAA, as Pronote expects; ""
// for anything else.
func frenchDate(d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		return ""
	}
	return t.Format("02/01/2006")
}

package ent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"atrium/record"
)

// CASServices returns the CAS registry: the services allowed to
// authenticate users through Atrium, as this node last received it (an
// edge keeps the registry central sent it, so tools on the school's LAN
// keep working offline).
func (s *Service) CASServices(ctx context.Context) ([]CASService, error) {
	var out []CASService
	err := s.store.View(func(r record.Reader) error {
		return r.Scan(record.Region, KindCASService, func(rec record.Record) error {
			var cs CASService
			if err := json.Unmarshal(rec.Body, &cs); err != nil {
				return fmt.Errorf("decode CAS service %s: %w", rec.ID, err)
			}
			cs.ID = rec.ID
			out = append(out, cs)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cas services: %w", err)
	}
	return out, nil
}

// CASServiceArgs are the arguments of "cas.service.put" (ID minted once per
// service, Name unique) and of "cas.service.remove" (Name only).
type CASServiceArgs = CASService

// maxPattern bounds a registry pattern.
const maxPattern = 1000

func execCASServicePut(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul un opérateur de la Région modifie le registre des services CAS.")
	}
	if cmd.Partition != record.Region {
		return rejectInvalid("Le registre des services CAS est régional.")
	}
	var a CASServiceArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	switch {
	case !validID(a.ID):
		return rejectInvalid("Identifiant invalide.")
	case !validServiceName(a.Name):
		return rejectInvalid("Nom de service invalide : lettres, chiffres, « - », « _ » et « . », 64 au plus.")
	case a.Pattern == "" || len(a.Pattern) > maxPattern:
		return rejectInvalid("Le motif d'URL est obligatoire (1000 caractères au plus).")
	case !ValidCASProfile(a.Profile):
		return rejectInvalid("Profil d'attributs inconnu : " + a.Profile + " (generic, pronote, grr, moodle ou glpi).")
	}
	if _, err := regexp.Compile(a.Pattern); err != nil {
		return rejectInvalid("Motif d'URL invalide : " + err.Error() + ".")
	}
	prev, ok, err := tx.ByKey(KindCASService, a.Name)
	if err != nil {
		return err
	}
	if ok && prev.ID != a.ID {
		a.ID = prev.ID // the service keeps its record: changing it is a put by name
	}
	body, err := json.Marshal(CASService{Name: a.Name, Pattern: a.Pattern, Profile: a.Profile})
	if err != nil {
		return err
	}
	if ok && bytes.Equal(prev.Body, body) {
		return nil
	}
	return tx.Put(record.Record{Partition: record.Region, ID: a.ID, Kind: KindCASService, Key: a.Name, Body: body})
}

func execCASServiceRemove(tx record.Tx, cmd record.Command) error {
	if !byOperator(cmd) {
		return rejectForbidden("Seul un opérateur de la Région modifie le registre des services CAS.")
	}
	var a CASServiceArgs
	if err := decodeArgs(cmd, &a); err != nil {
		return err
	}
	prev, ok, err := tx.ByKey(KindCASService, a.Name)
	if err != nil {
		return err
	}
	if !ok {
		return record.Reject("not_found", "Aucun service CAS ne porte ce nom : "+a.Name+".")
	}
	prev.Deleted, prev.Body = true, nil
	return tx.Put(prev)
}

func validServiceName(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Package uai checks the identifiers of French schools: the UAI (unité
// administrative immatriculée, formerly RNE), e.g. 0130040Y.
//
// A UAI is seven digits (a three-digit département code, then four digits)
// followed by a check letter: the seven digits read as a number, modulo 23,
// index the alphabet "ABCDEFGHJKLMNPRSTUVWXYZ" (I, O and Q are left out).
// Corsican establishments are numbered with the codes 620 (Corse-du-Sud)
// and 720 (Haute-Corse) rather than 2A/2B, so only digits are accepted.
//
// The package imports nothing of Atrium's; its functions are pure and safe
// for concurrent use.
package uai

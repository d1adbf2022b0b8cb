package uai

// letters are the check letters, indexed by the number modulo 23.
const letters = "ABCDEFGHJKLMNPRSTUVWXYZ"

// CheckLetter returns the check letter of the seven digits of a UAI, or 0
// when digits is not exactly seven ASCII digits.
func CheckLetter(digits string) byte {
	if len(digits) != 7 {
		return 0
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return letters[n%23]
}

// Valid reports whether s is a well-formed UAI: seven digits and the right
// check letter, in upper case.
func Valid(s string) bool {
	if len(s) != 8 {
		return false
	}
	c := CheckLetter(s[:7])
	return c != 0 && s[7] == c
}

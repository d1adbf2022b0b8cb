// Package synth makes the synthetic region of the demo and of the tests:
// two lycées of the region (Lycée Thiers in Marseille, académie
// d'Aix-Marseille, and Lycée Masséna in Nice, académie de Nice), each with a
// student, a parent of that student, a teacher of the student's class and a
// member of staff (Thiers also has a classmate, and a student of another
// class with his parent, for the communication rules), one Région staff
// account, and a few news items and messages.
//
// The data comes as the commands an operator would submit (Origin
// "central"), so it goes through the same rules (ent.Exec) as everything
// else. Passwords are hashed here: the commands carry argon2id hashes only;
// the clear demo passwords are returned beside them for the demo to print.
//
// Ids and times derive from the seed: two calls with one seed give the same
// records, except for the password salts. This package imports ent and
// record only; its function is safe for concurrent use.
package synth

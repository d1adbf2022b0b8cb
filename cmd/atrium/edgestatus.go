package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"atrium/health"
)

// runEdgeStatus prints an edge's sync and transfers, read from its status
// API, as a person reads them.
func runEdgeStatus(ctx context.Context, args []string) error {
	fs := newFlagSet("edge status", "", "Print an edge's link with central and its transfers in progress (its /api/v1/status).")
	url := fs.String("url", "http://127.0.0.1:8090", "the edge's HTTP URL")
	asJSON := fs.Bool("json", false, "print the status API's JSON as is")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return printEdgeStatus(ctx, os.Stdout, *url, *asJSON)
}

// printEdgeStatus reads url's status API and writes it to w.
func printEdgeStatus(ctx context.Context, w io.Writer, url string, asJSON bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, body, err := health.FetchStatus(ctx, url)
	if err != nil {
		return fmt.Errorf("edge status: %w", err)
	}
	if asJSON {
		_, err := w.Write(body)
		return err
	}
	if st.Role != "edge" || st.Sync == nil {
		return fmt.Errorf("edge status: %s is not a running edge (role %q)", url, st.Role)
	}
	_, err = io.WriteString(w, formatEdgeStatus(st, time.Now()))
	return err
}

// formatEdgeStatus is the edge's status in French, a line a subject.
func formatEdgeStatus(st health.Status, now time.Time) string {
	var b strings.Builder
	s := st.Sync
	link := "coupé de central"
	if s.Connected {
		link = "connecté à central"
	}
	fmt.Fprintf(&b, "Lycée %s (%s) : %s", st.UAI, st.Node, link)
	if !s.LastSync.IsZero() {
		fmt.Fprintf(&b, ", dernier échange il y a %s", now.Sub(s.LastSync).Round(time.Second))
	}
	b.WriteString("\n")
	if p := s.Pending; p != nil {
		if p.Commands == 0 {
			b.WriteString("Envoi en attente : rien\n")
		} else {
			fmt.Fprintf(&b, "Envoi en attente : %s (%s) — %s en tout (%s)\n",
				plural(p.Chunks, "morceau", "morceaux"), octets(p.ChunkBytes),
				plural(p.Commands, "modification", "modifications"), octets(p.Bytes))
		}
	} else {
		fmt.Fprintf(&b, "Envoi en attente : %s\n", plural(s.Outbox, "modification", "modifications"))
	}
	if f := s.Files; f != nil {
		if f.Incomplete == 0 {
			b.WriteString("Fichiers à recevoir : aucun\n")
		} else {
			fmt.Fprintf(&b, "Fichiers à recevoir : %s incomplets ici (il manque %s)\n",
				plural(f.Incomplete, "fichier", "fichiers"), octets(f.MissingBytes))
		}
	}
	if w := s.WAN; w != nil {
		limit := "sans plafond"
		if w.Cap > 0 {
			limit = "plafond " + octets(w.Cap) + "/s dans chaque sens"
		}
		fmt.Fprintf(&b, "Liaison WAN : %s ; envoyé %s, reçu %s depuis le démarrage\n",
			limit, octets(int64(w.SentBytes)), octets(int64(w.ReceivedBytes)))
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 || n == 0 {
		return strconv.Itoa(n) + " " + one
	}
	return strconv.Itoa(n) + " " + many
}

// octets writes a size as the French do: binary multiples named ko, Mo,
// Go, a decimal comma.
func octets(n int64) string {
	units := []string{"o", "ko", "Mo", "Go", "To"}
	v, i := float64(n), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 || v >= 100 {
		return fmt.Sprintf("%.0f %s", v, units[i])
	}
	return strings.Replace(fmt.Sprintf("%.1f %s", v, units[i]), ".", ",", 1)
}

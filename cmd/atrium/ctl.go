package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"atrium/central/admin"
	"atrium/ent/aaf"
	"atrium/ent/uai"
)

type ctlCommand struct {
	path    string // "edge add"
	args    string
	summary string
	run     func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet)
	local   bool // runs on this machine: needs no server or token
}

func ctlCommands() []ctlCommand {
	var uaiFlag *string
	var gen struct {
		out                    *string
		lycees, students, days *int
		seed                   *uint64
	}
	return []ctlCommand{
		{path: "aaf generate", summary: "write a synthetic region's AAF files (a Complet set and daily Delta sets) into --out",
			local: true,
			flags: func(fs *flag.FlagSet) {
				gen.out = fs.String("out", "", "directory to write the files into, created if needed (required)")
				gen.lycees = fs.Int("lycees", 4, "number of lycées, spread over the académies of Aix-Marseille and Nice")
				gen.students = fs.Int("students-per-lycee", 100, "students in each lycée")
				gen.days = fs.Int("delta-days", 2, "daily Delta sets after the Complet set")
				gen.seed = fs.Uint64("seed", 1, "random seed: the same flags and seed write the same bytes")
			},
			run: func(ctx context.Context, _ *admin.Client, fs *flag.FlagSet, args []string) error {
				if *gen.out == "" || fs.NArg() != 0 {
					return fmt.Errorf("aaf generate takes --out DIR and no arguments")
				}
				if *gen.lycees < 1 || *gen.students < 1 || *gen.days < 0 {
					return fmt.Errorf("--lycees and --students-per-lycee must be at least 1, --delta-days at least 0")
				}
				start := time.Now()
				sum, err := aaf.Generate(*gen.out, aaf.GenConfig{
					Lycees: *gen.lycees, StudentsPerLycee: *gen.students, DeltaDays: *gen.days, Seed: *gen.seed,
				})
				if err != nil {
					return err
				}
				fmt.Printf("wrote %d files to %s in %s\n", len(sum.Files), *gen.out, time.Since(start).Round(time.Millisecond))
				fmt.Printf("académies %d, lycées %d, students %d, relatives %d, teachers %d, staff %d\n",
					sum.Academies, sum.Lycees, sum.Students, sum.Relatives, sum.Teachers, sum.Staff)
				fmt.Printf("delta days %d: arrivals %d, class changes %d, departures %d\n",
					sum.DeltaDays, sum.Arrivals, sum.Changes, sum.Departures)
				return nil
			}},
		{path: "edge add", summary: "issue a one-time enrolment token for a lycée's edge appliance",
			flags: func(fs *flag.FlagSet) { uaiFlag = fs.String("uai", "", "the lycée's UAI, e.g. 0130040Y (required)") },
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				if *uaiFlag == "" {
					return fmt.Errorf("--uai is required")
				}
				u := strings.ToUpper(strings.TrimSpace(*uaiFlag))
				if err := checkUAI(u); err != nil {
					return err
				}
				t, err := c.AddEdge(ctx, u)
				if err != nil {
					return err
				}
				fmt.Printf("Enrolment token for %s (single use, valid until %s):\n\n  %s\n\n", t.UAI, t.Expires.Local().Format(time.DateTime), t.Token)
				fmt.Printf("On the appliance:\n\n  atrium edge --data /var/lib/atrium --enroll %s --central %s\n", t.Token, c.Server)
				return nil
			}},
		{path: "edge list", summary: "list the edges central has seen and their sync state",
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				edges, err := c.Edges(ctx)
				if err != nil {
					return err
				}
				sort.Slice(edges, func(i, j int) bool { return edges[i].UAI < edges[j].UAI })
				tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "UAI\tCONNECTED\tEPOCH\tOUTBOX\tLAG\tLAST SEEN")
				for _, e := range edges {
					fmt.Fprintf(tw, "%s\t%v\t%d\t%d\t%d\t%s\n", e.UAI, e.Connected, e.Epoch, e.Outbox, e.Lag, e.LastSeen.Local().Format(time.DateTime))
				}
				return tw.Flush()
			}},
		{path: "node list", summary: "list the central cluster's members",
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				nodes, err := c.Nodes(ctx)
				if err != nil {
					return err
				}
				sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
				tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATUS\tLEADER\tVOTER\tRAFT\tHTTP")
				for _, m := range nodes {
					fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\n", m.Name, m.Status, m.Leader, m.Voter, m.RaftAddr, m.HTTPURL)
				}
				return tw.Flush()
			}},
		{path: "node remove", args: "NAME", summary: "remove a central node from the cluster (explicit: failed nodes are never removed automatically)",
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				if fs.NArg() != 1 {
					return fmt.Errorf("node remove takes one node name")
				}
				if err := c.RemoveNode(ctx, fs.Arg(0)); err != nil {
					return err
				}
				fmt.Printf("removed %s\n", fs.Arg(0))
				return nil
			}},
		{path: "status", summary: "print the status of the node --server names",
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.Server, "/")+"/api/v1/status", nil)
				if err != nil {
					return err
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				var v any
				if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
					return fmt.Errorf("decode status: %w", err)
				}
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}},
	}
}

func runCtl(ctx context.Context, args []string) error {
	cmds := ctlCommands()
	ctlUsage := func(w io.Writer) {
		fmt.Fprintln(w, "Usage: atrium ctl [--server URL] [--token TOKEN] COMMAND [flags]\n\nOperate the region through a central node's API (--server or ATRIUM_SERVER, --token or ATRIUM_TOKEN).\n\nCommands:")
		for _, c := range cmds {
			fmt.Fprintf(w, "  %-12s %s\n", c.path, c.summary)
		}
	}
	global := flag.NewFlagSet("ctl", flag.ContinueOnError)
	global.Usage = func() { ctlUsage(global.Output()) }
	server := global.String("server", envOr("ATRIUM_SERVER", "http://127.0.0.1:8080"), "central node URL (or ATRIUM_SERVER)")
	token := global.String("token", envOr("ATRIUM_TOKEN", ""), "operator token (or ATRIUM_TOKEN)")
	if err := parseFlags(global, args); err != nil {
		return err
	}
	rest := global.Args()
	for _, c := range cmds {
		words := strings.Fields(c.path)
		if len(rest) < len(words) || strings.Join(rest[:len(words)], " ") != c.path {
			continue
		}
		fs := newFlagSet("ctl "+c.path, c.args, c.summary)
		if !c.local {
			fs.StringVar(server, "server", *server, "central node URL (or ATRIUM_SERVER)")
			fs.StringVar(token, "token", *token, "operator token (or ATRIUM_TOKEN)")
		}
		if c.flags != nil {
			c.flags(fs)
		}
		if err := parseFlags(fs, rest[len(words):]); err != nil {
			return err
		}
		if *token == "" && c.path != "status" && !c.local {
			return fmt.Errorf("no operator token: pass --token or set ATRIUM_TOKEN")
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		return c.run(ctx, &admin.Client{Server: *server, Token: *token}, fs, fs.Args())
	}
	ctlUsage(os.Stderr)
	if len(rest) == 0 {
		return fmt.Errorf("missing ctl command")
	}
	return fmt.Errorf("unknown ctl command %q", strings.Join(rest, " "))
}

// checkUAI explains what is wrong with a UAI before central is asked.
func checkUAI(s string) error {
	if uai.Valid(s) {
		return nil
	}
	if len(s) == 8 {
		if c := uai.CheckLetter(s[:7]); c != 0 {
			return fmt.Errorf("%q is not a valid UAI: the check letter of %s is %c", s, s[:7], c)
		}
	}
	return fmt.Errorf("%q is not a valid UAI: seven digits then a check letter, e.g. 0130040Y", s)
}

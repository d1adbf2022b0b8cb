package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"atrium/central/admin"
	"atrium/ent"
	"atrium/ent/aaf"
	"atrium/ent/importer"
	"atrium/ent/uai"
	"atrium/health"
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
	var revokeReason *string
	var imp struct{ dryRun, quiet *bool }
	var cas struct{ name, pattern, profile *string }
	var gen struct {
		out                    *string
		lycees, students, days *int
		seed                   *uint64
		next                   *bool
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
				gen.next = fs.Bool("next-complet", false, "also write the Complet set of the day after the last Delta: the state the Delta sets produced")
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
					NextComplet: *gen.next,
				})
				if err != nil {
					return err
				}
				fmt.Printf("wrote %d files to %s in %s\n", len(sum.Files), *gen.out, time.Since(start).Round(time.Millisecond))
				fmt.Printf("académies %d, lycées %d, students %d, relatives %d, teachers %d, staff %d\n",
					sum.Academies, sum.Lycees, sum.Students, sum.Relatives, sum.Teachers, sum.Staff)
				fmt.Printf("delta days %d: arrivals %d, class changes %d, departures %d\n",
					sum.DeltaDays, sum.Arrivals, sum.Changes, sum.Departures)
				if !sum.NextComplet.IsZero() {
					fmt.Printf("next Complet %s: students %d, relatives %d\n",
						sum.NextComplet.Format(time.DateOnly), sum.NextStudents, sum.NextRelatives)
				}
				return nil
			}},
		{path: "aaf import", args: "DIR", summary: "send the AAF export set in DIR (and agricultural CSV files) to the cluster and print the run's report",
			flags: func(fs *flag.FlagSet) {
				imp.dryRun = fs.Bool("dry-run", false, "compute and print the report without changing anything")
				imp.quiet = fs.Bool("quiet", false, "print the report only, not the progress")
			},
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				if fs.NArg() != 1 {
					return fmt.Errorf("aaf import takes one directory")
				}
				paths, err := setFiles(fs.Arg(0))
				if err != nil {
					return err
				}
				var progress func(importer.Progress)
				if !*imp.quiet {
					progress = newImportProgress(os.Stderr).event
				}
				fmt.Fprintf(os.Stderr, "sending %d files from %s\n", len(paths), fs.Arg(0))
				rep, err := c.ImportFiles(ctx, paths, *imp.dryRun, progress)
				if err != nil {
					return err
				}
				fmt.Print(rep.String())
				return nil
			}},
		{path: "aaf reports", summary: "list the reports of the last directory imports",
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				reps, err := c.Imports(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tFINISHED\tACADEMIES\tPERSONS\tCREATED\tUPDATED\tUNCHANGED\tDISAPPEARED\tDEACTIVATED\tREJECTED")
				for _, r := range reps {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", r.ID, r.Finished.Local().Format(time.DateTime),
						strings.Join(r.Academies, ","), r.Persons, r.Created, r.Updated, r.Unchanged, r.Disappeared, r.Deactivated, r.Rejected)
				}
				return tw.Flush()
			}},
		{path: "cas services", summary: "list the CAS registry: the services allowed to use Atrium's single sign-on",
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				svcs, err := c.CASServices(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tPROFILE\tPATTERN")
				for _, s := range svcs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Profile, s.Pattern)
				}
				return tw.Flush()
			}},
		{path: "cas add", summary: "add a service to the CAS registry (or change the one of that name)",
			flags: func(fs *flag.FlagSet) {
				cas.name = fs.String("name", "", "the service's name, e.g. pronote-thiers (required)")
				cas.pattern = fs.String("pattern", "", "regular expression the service URL must match, e.g. '^https://pronote\\.example/.*' (required)")
				cas.profile = fs.String("profile", "generic", "attribute set: generic, pronote, grr, moodle or glpi")
			},
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				if *cas.name == "" || *cas.pattern == "" || fs.NArg() != 0 {
					return fmt.Errorf("cas add takes --name and --pattern (and --profile), no arguments")
				}
				if _, err := regexp.Compile(*cas.pattern); err != nil {
					return fmt.Errorf("--pattern: %w", err)
				}
				if !ent.ValidCASProfile(*cas.profile) {
					return fmt.Errorf("--profile %q: want generic, pronote, grr, moodle or glpi", *cas.profile)
				}
				if err := c.PutCASService(ctx, ent.CASService{Name: *cas.name, Pattern: *cas.pattern, Profile: *cas.profile}); err != nil {
					return err
				}
				fmt.Printf("CAS service %s (%s) allowed for %s\n", *cas.name, *cas.profile, *cas.pattern)
				return nil
			}},
		{path: "cas remove", args: "NAME", summary: "remove a service from the CAS registry",
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				if fs.NArg() != 1 {
					return fmt.Errorf("cas remove takes one service name")
				}
				if err := c.RemoveCASService(ctx, fs.Arg(0)); err != nil {
					return err
				}
				fmt.Printf("CAS service %s removed\n", fs.Arg(0))
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
				fmt.Fprintln(tw, "UAI\tCONNECTED\tEPOCH\tOUTBOX\tLAG\tLAST SEEN\tREVOKED")
				for _, e := range edges {
					seen, revoked := "-", "-"
					if !e.LastSeen.IsZero() {
						seen = e.LastSeen.Local().Format(time.DateTime)
					}
					if e.Revoked != nil {
						revoked = "certificates until " + e.Revoked.Local().Format(time.DateTime)
						if e.RevokedReason != "" {
							revoked += " (" + e.RevokedReason + ")"
						}
					}
					fmt.Fprintf(tw, "%s\t%v\t%d\t%d\t%d\t%s\t%s\n", e.UAI, e.Connected, e.Epoch, e.Outbox, e.Lag, seen, revoked)
				}
				return tw.Flush()
			}},
		{path: "edge revoke", args: "UAI", summary: "revoke the certificates of a lycée's edge appliance (stolen or retired): central refuses it, it purges its data",
			flags: func(fs *flag.FlagSet) {
				revokeReason = fs.String("reason", "", "why, kept with the revocation (e.g. \"vol signalé le 12/03\")")
			},
			run: func(ctx context.Context, c *admin.Client, fs *flag.FlagSet, args []string) error {
				if fs.NArg() != 1 {
					return fmt.Errorf("edge revoke takes one UAI")
				}
				u := strings.ToUpper(strings.TrimSpace(fs.Arg(0)))
				if err := checkUAI(u); err != nil {
					return err
				}
				rv, err := c.RevokeEdge(ctx, u, *revokeReason)
				if err != nil {
					return err
				}
				fmt.Printf("Certificates of %s's edge issued until %s revoked.\n", rv.UAI, rv.Time.Local().Format(time.DateTime))
				fmt.Printf("Central refuses that appliance from now on; when it next reaches central it purges its data.\n")
				fmt.Printf("A replacement needs a new token: atrium ctl edge add --uai %s\n", rv.UAI)
				return nil
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
				_, body, err := health.FetchStatus(ctx, c.Server)
				if err != nil {
					return err
				}
				var out bytes.Buffer
				if err := json.Indent(&out, body, "", "  "); err != nil {
					return fmt.Errorf("decode status: %w", err)
				}
				out.WriteByte('\n')
				_, err = out.WriteTo(os.Stdout)
				return err
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
		if err := parseCommandFlags(fs, rest[len(words):]); err != nil {
			return err
		}
		if *token == "" && c.path != "status" && !c.local {
			return fmt.Errorf("no operator token: pass --token or set ATRIUM_TOKEN")
		}
		timeout := 5 * time.Minute
		if c.path == "aaf import" {
			timeout = 4 * time.Hour // a region's export: minutes, with progress shown
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
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

// setFiles lists the files of an export set in dir: the AAF XML files
// (…_Complet_…/…_Delta_… names) and the agricultural lycées' CSV files.
func setFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		ext := strings.ToLower(filepath.Ext(name))
		if e.Type().IsRegular() && (ext == ".xml" || ext == ".csv") {
			if _, err := aaf.ParseFileName(name); err == nil {
				out = append(out, filepath.Join(dir, name))
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no AAF export file (…_Complet_AAAAMMJJ_<Category>_NNNN.xml or …_Delta_…)", dir)
	}
	return out, nil
}

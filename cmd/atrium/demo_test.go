package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"atrium/ent/uai"
)

// demoFile is demo.json as scripts read it: the fields are spelt out here
// rather than taken from package demo, so that the test pins the format.
type demoFile struct {
	OperatorToken string `json:"operator_token"`
	Nodes         []struct {
		Name string `json:"name"`
		Role string `json:"role"`
		UAI  string `json:"uai"`
		PID  int    `json:"pid"`
		URL  string `json:"url"`
	} `json:"nodes"`
	Accounts []struct {
		Login    string `json:"login"`
		Password string `json:"password"`
		Profile  string `json:"profile"`
		UAI      string `json:"uai"`
	} `json:"accounts"`
}

// nodeStatus is GET /api/v1/status.
type nodeStatus struct {
	Node   string `json:"node"`
	Role   string `json:"role"`
	UAI    string `json:"uai"`
	Leader string `json:"leader"`
	Sync   *struct {
		Connected bool `json:"connected"`
		Outbox    int  `json:"outbox"`
	} `json:"sync"`
}

type newsItem struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	UAI    string `json:"uai"`
	Region bool   `json:"region"`
}

type message struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// testDemo runs `atrium demo` and uses the region as its users and its
// operator would, through a lycée losing its link, then stops it with
// Ctrl-C and checks that nothing it started is left running.
func testDemo(t *testing.T, bin string) {
	start := time.Now()
	dir := filepath.Join(t.TempDir(), "region")
	outPath := filepath.Join(t.TempDir(), "demo.out")
	d := startDemo(t, bin, dir, outPath)

	// 1. demo.json lists the region: three central nodes and two edges.
	var f demoFile
	d.waitFor(t, 90*time.Second, "demo.json listing 3 central nodes and 2 edges with pids and urls", func() error {
		b, err := os.ReadFile(filepath.Join(dir, "demo.json"))
		if err != nil {
			return err
		}
		f = demoFile{}
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		roles := map[string]int{}
		for _, n := range f.Nodes {
			if n.PID <= 0 || !strings.HasPrefix(n.URL, "http://") {
				return fmt.Errorf("node %+v has no pid or url", n)
			}
			roles[n.Role]++
		}
		if roles["central"] != 3 || roles["edge"] != 2 || len(f.Nodes) != 5 {
			return fmt.Errorf("nodes by role = %v", roles)
		}
		return nil
	})
	for _, n := range f.Nodes {
		d.pids = append(d.pids, n.PID)
	}
	t.Logf("region up in %v", time.Since(start).Round(time.Millisecond))

	var centrals []string        // URLs, central-1 first
	var centralNames []string    // names
	edges := map[string]string{} // UAI -> URL
	var lycees []string          // UAIs of the edges, in demo.json's order
	for _, n := range f.Nodes {
		switch n.Role {
		case "central":
			centrals = append(centrals, n.URL)
			centralNames = append(centralNames, n.Name)
		case "edge":
			if !uai.Valid(n.UAI) {
				t.Fatalf("edge %s: uai %q is not a valid UAI", n.Name, n.UAI)
			}
			edges[n.UAI] = n.URL
			lycees = append(lycees, n.UAI)
		}
	}
	if want := []string{"central-1", "central-2", "central-3"}; !slices.Equal(centralNames, want) {
		t.Errorf("central nodes in demo.json = %v, want %v", centralNames, want)
	}
	ctx := t.Context()

	// 2. Every node is healthy and says who it is.
	for _, n := range f.Nodes {
		if code, body, err := call(ctx, http.MethodGet, n.URL+"/healthz", "", nil, nil); err != nil || code != http.StatusOK {
			t.Errorf("GET %s/healthz = %d %q, %v; want 200", n.URL, code, body, err)
		}
		var st nodeStatus
		d.waitFor(t, 30*time.Second, n.Name+"'s /api/v1/status complete", func() error {
			st = nodeStatus{}
			if err := getJSON(ctx, n.URL+"/api/v1/status", "", &st); err != nil {
				return err
			}
			switch {
			case st.Role == "central" && st.Leader == "":
				return errors.New("no leader yet")
			case st.Role == "edge" && (st.Sync == nil || !st.Sync.Connected):
				return errors.New("edge not connected to central yet")
			}
			return nil
		})
		if st.Node != n.Name || st.Role != n.Role {
			t.Errorf("%s: status node/role = %q/%q, want %q/%q", n.URL, st.Node, st.Role, n.Name, n.Role)
		}
		switch n.Role {
		case "central":
			if !slices.Contains(centralNames, st.Leader) {
				t.Errorf("%s: status leader = %q, want one of %v", n.Name, st.Leader, centralNames)
			}
		case "edge":
			if st.UAI != n.UAI {
				t.Errorf("%s: status uai = %q, want %q", n.Name, st.UAI, n.UAI)
			}
		}
	}

	// 3. Every demo account logs in at central (spread over the three
	// nodes); each lycée's student also at the lycée's edge.
	if len(f.Accounts) == 0 {
		t.Fatal("demo.json lists no accounts")
	}
	type account = struct{ login, password string }
	student, teacher := map[string]account{}, map[string]account{}
	for i, a := range f.Accounts {
		if _, err := login(ctx, centrals[i%len(centrals)], a.Login, a.Password); err != nil {
			t.Errorf("%s (%s) at %s: %v", a.Login, a.Profile, centralNames[i%len(centrals)], err)
		}
		switch a.Profile {
		case "Student":
			student[a.UAI] = account{a.Login, a.Password}
		case "Teacher":
			teacher[a.UAI] = account{a.Login, a.Password}
		}
	}
	for _, l := range lycees {
		if student[l].login == "" || teacher[l].login == "" {
			t.Fatalf("demo.json has no student or no teacher for lycée %s", l)
		}
	}

	// 4. A student sees the same news at the lycée's edge and at central,
	// the lycée's own among them.
	for _, l := range lycees {
		s := student[l]
		atEdge, err := login(ctx, edges[l], s.login, s.password)
		if err != nil {
			t.Fatalf("student %s at the edge of %s: %v", s.login, l, err)
		}
		atCentral, err := login(ctx, centrals[0], s.login, s.password)
		if err != nil {
			t.Fatal(err)
		}
		var edgeNews, centralNews []newsItem
		d.waitFor(t, 20*time.Second, "the same news at the edge of "+l+" and at central", func() error {
			edgeNews, centralNews = nil, nil
			if err := getJSON(ctx, edges[l]+"/api/v1/news", atEdge, &edgeNews); err != nil {
				return err
			}
			if err := getJSON(ctx, centrals[0]+"/api/v1/news", atCentral, &centralNews); err != nil {
				return err
			}
			if diff := cmp.Diff(centralNews, edgeNews); diff != "" {
				return fmt.Errorf("news at central and at the edge differ (-central +edge):\n%s", diff)
			}
			return nil
		})
		if !slices.ContainsFunc(edgeNews, func(n newsItem) bool { return n.UAI == l && !n.Region }) {
			t.Errorf("student %s sees no news of lycée %s: %+v", s.login, l, edgeNews)
		}
	}

	// 5. The operator's view through atrium ctl, at the node the demo
	// names in its summary (central-1).
	op := []string{"ctl", "--server", centrals[0], "--token", f.OperatorToken}
	r := runAtrium(t, bin, []string{"ATRIUM_SERVER=" + centrals[0], "ATRIUM_TOKEN=" + f.OperatorToken}, "ctl", "node", "list")
	if r.code != 0 {
		t.Errorf("atrium ctl node list:\n%s", r)
	}
	var names []string
	leaders := 0
	for _, row := range tableRows(r.stdout, "NAME") {
		names = append(names, row[0])
		if row[2] == "true" {
			leaders++
		}
	}
	if !slices.Equal(names, centralNames) || leaders != 1 {
		t.Errorf("atrium ctl node list: nodes %v with %d leaders, want %v with one leader:\n%s", names, leaders, centralNames, r.stdout)
	}

	// An edge is listed by the central node it syncs with (only: see the
	// report on `ctl edge list`), so ask each of them.
	listed := map[string]string{} // UAI -> CONNECTED
	for _, c := range centrals {
		r := runAtrium(t, bin, nil, "ctl", "--server", c, "--token", f.OperatorToken, "edge", "list")
		if r.code != 0 {
			t.Errorf("atrium ctl --server %s edge list:\n%s", c, r)
		}
		for _, row := range tableRows(r.stdout, "UAI") {
			listed[row[0]] = row[1]
		}
	}
	for _, l := range lycees {
		if listed[l] != "true" {
			t.Errorf("atrium ctl edge list: %s connected = %q, want true (listed: %v)", l, listed[l], listed)
		}
	}

	r = runAtrium(t, bin, nil, append(op, "edge", "add", "--uai", "0130040Z")...)
	if r.code == 0 || !strings.Contains(r.stderr, `"0130040Z" is not a valid UAI: the check letter of 0130040 is Y`) {
		t.Errorf("atrium ctl edge add --uai 0130040Z: want a refusal naming the right check letter:\n%s", r)
	}
	newUAI := "0130041" + string(uai.CheckLetter("0130041"))
	r = runAtrium(t, bin, nil, append(op, "edge", "add", "--uai", newUAI)...)
	token := enrolToken(r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "Enrolment token for "+newUAI) || token == "" ||
		!strings.Contains(r.stdout, "--enroll "+token+" --central "+centrals[0]) {
		t.Errorf("atrium ctl edge add --uai %s: want a token and the command to enrol with it:\n%s", newUAI, r)
	}
	// The académies' set the demo imported, sent again (flags after the
	// directory, as scripts write them): nothing changes, and the report
	// gives each count after its word.
	r = runAtrium(t, bin, nil, append(op, "aaf", "import", filepath.Join(dir, "aaf"), "--dry-run")...)
	counts := regexp.MustCompile(`created (\d+), updated (\d+), unchanged \d+, disappeared (\d+), deactivated \d+, rejected (\d+)`).FindStringSubmatch(r.stdout)
	if r.code != 0 || counts == nil || counts[1] != "0" || counts[2] != "0" || counts[3] != "0" || counts[4] != "0" ||
		!strings.Contains(r.stdout, "dry run") || !strings.Contains(r.stderr, "read") {
		t.Errorf("atrium ctl aaf import DIR --dry-run of the demo's own set: want progress and nothing to change:\n%s", r)
	}
	r = runAtrium(t, bin, nil, append(op, "aaf", "import", t.TempDir())...)
	if r.code == 0 || !strings.Contains(r.stderr, "no AAF export file") {
		t.Errorf("atrium ctl aaf import of an empty directory: want a refusal:\n%s", r)
	}
	r = runAtrium(t, bin, nil, append(op, "cas", "add", "--name", "pronote-demo", "--pattern", `^https://pronote\.example/.*`, "--profile", "pronote")...)
	if r.code != 0 {
		t.Errorf("atrium ctl cas add:\n%s", r)
	}
	r = runAtrium(t, bin, nil, append(op, "cas", "services")...)
	if rows := tableRows(r.stdout, "NAME"); r.code != 0 || len(rows) != 1 || rows[0][0] != "pronote-demo" || rows[0][1] != "pronote" {
		t.Errorf("atrium ctl cas services: want the service just added:\n%s", r)
	}
	r = runAtrium(t, bin, nil, append(op, "cas", "add", "--name", "bad", "--pattern", "(")...)
	if r.code == 0 || !strings.Contains(r.stderr, "--pattern") {
		t.Errorf("atrium ctl cas add with a broken pattern: want a refusal:\n%s", r)
	}
	r = runAtrium(t, bin, nil, "ctl", "--server", centrals[0], "--token", "not-the-token", "node", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "operator token missing or wrong") {
		t.Errorf("atrium ctl with a wrong token: want a refusal:\n%s", r)
	}

	// A second demo on the same directory refuses to start and leaves the
	// running one alone.
	before, _ := os.ReadFile(filepath.Join(dir, "demo.json"))
	r = runAtrium(t, bin, nil, "demo", "--dir", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "a demo is already running in "+dir) {
		t.Errorf("a second atrium demo --dir %s: want a refusal:\n%s", dir, r)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "demo.json")); !bytes.Equal(before, after) {
		t.Errorf("a second demo on the same directory rewrote demo.json")
	}

	// 6. The lycée loses its link: the edge keeps working, with a banner.
	l := lycees[0]
	edge := edges[l]
	s, tch := student[l], teacher[l]
	cutAt := time.Now()
	r = runAtrium(t, bin, nil, "demo", "wan", "cut", l, "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "WAN link of "+l+": cut") {
		t.Fatalf("atrium demo wan cut %s:\n%s", l, r)
	}
	d.waitFor(t, 30*time.Second, "the edge of "+l+" to see its link down", func() error {
		var st nodeStatus
		if err := getJSON(ctx, edge+"/api/v1/status", "", &st); err != nil {
			return err
		}
		if st.Sync == nil || st.Sync.Connected {
			return fmt.Errorf("sync = %+v", st.Sync)
		}
		return nil
	})
	t.Logf("edge offline %v after the cut", time.Since(cutAt).Round(time.Millisecond))

	atEdge, err := login(ctx, edge, s.login, s.password)
	if err != nil {
		t.Fatalf("student logs in at the cut-off edge: %v", err)
	}
	const subject = "Écrit pendant la coupure"
	var sent message
	code, body, err := call(ctx, http.MethodPost, edge+"/api/v1/messages", atEdge,
		map[string]string{"to": tch.login, "subject": subject, "body": "Envoyé depuis le lycée sans réseau."}, &sent)
	if err != nil || code != http.StatusCreated || sent.To != tch.login || sent.From != s.login {
		t.Fatalf("POST %s/api/v1/messages while cut off = %d %s, %v; want 201 from %s to %s", edge, code, body, err, s.login, tch.login)
	}
	code, page, err := call(ctx, http.MethodGet, edge+"/", atEdge, nil, nil)
	if err != nil || code != http.StatusOK || !strings.Contains(string(page), "modification en attente") {
		t.Errorf("GET %s/ while cut off = %d, %v; want 200 and the offline banner (\"modification en attente\"), got:\n%s", edge, code, err, page)
	}
	teacherAt := make([]string, len(centrals))
	for i, c := range centrals {
		if teacherAt[i], err = login(ctx, c, tch.login, tch.password); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := countSubject(ctx, centrals[0], teacherAt[0], subject); err != nil || n != 0 {
		t.Errorf("%s's messages at central while the link is cut: %d copies, %v; want none", tch.login, n, err)
	}

	// 7. The link is back: the outbox drains and the teacher sees the
	// message once, at every central node.
	r = runAtrium(t, bin, nil, "demo", "wan", "restore", l, "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "WAN link of "+l+": restored") {
		t.Fatalf("atrium demo wan restore %s:\n%s", l, r)
	}
	restoredAt := time.Now()
	d.waitFor(t, 60*time.Second, "the edge of "+l+" connected with an empty outbox", func() error {
		var st nodeStatus
		if err := getJSON(ctx, edge+"/api/v1/status", "", &st); err != nil {
			return err
		}
		if st.Sync == nil || !st.Sync.Connected || st.Sync.Outbox != 0 {
			return fmt.Errorf("sync = %+v", st.Sync)
		}
		return nil
	})
	t.Logf("outbox drained %v after the restore", time.Since(restoredAt).Round(time.Millisecond))
	for i, c := range centrals {
		d.waitFor(t, 15*time.Second, tch.login+" sees the message at "+centralNames[i], func() error {
			n, err := countSubject(ctx, c, teacherAt[i], subject)
			if err == nil && n == 0 {
				err = errors.New("not yet")
			}
			return err
		})
		if n, err := countSubject(ctx, c, teacherAt[i], subject); err != nil || n != 1 {
			t.Errorf("%s sees %d copies of the message at %s (%v), want 1", tch.login, n, centralNames[i], err)
		}
	}

	// 8. Ctrl-C stops the demo and every process it started.
	d.interrupt(t, 45*time.Second)
	gone := true
	for _, n := range f.Nodes {
		if err := syscall.Kill(n.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) after the demo stopped: kill(pid, 0) = %v, want ESRCH", n.Name, n.PID, err)
			gone = false
		}
	}
	d.stopped = gone
	t.Logf("whole demo test: %v", time.Since(start).Round(time.Millisecond))
}

// runningDemo is an `atrium demo` child process.
type runningDemo struct {
	cmd     *exec.Cmd
	outPath string
	dir     string
	exited  chan struct{}
	waitErr error
	pids    []int // the region's processes, once demo.json lists them
	stopped bool  // the demo exited and every process it listed is gone
}

// startDemo starts `atrium demo --dir dir` in its own process group, its
// output going to outPath. Cleanup kills whatever is left and, if the test
// failed, logs the demo's output and the end of each node's log.
func startDemo(t *testing.T, bin, dir, outPath string) *runningDemo {
	t.Helper()
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "demo", "--dir", dir)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start atrium demo: %v", err)
	}
	d := &runningDemo{cmd: cmd, outPath: outPath, dir: dir, exited: make(chan struct{})}
	go func() {
		d.waitErr = cmd.Wait()
		out.Close()
		close(d.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			d.logOutput(t)
		}
	})
	t.Cleanup(func() {
		if d.stopped {
			return
		}
		// The demo's group, then each node and its group (the demo puts
		// every node in a group of its own).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for _, pid := range d.pids {
			syscall.Kill(-pid, syscall.SIGKILL)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("atrium demo (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	return d
}

// waitFor polls cond every 100 ms until it succeeds, failing the test when
// timeout passes or the demo exits first.
func (d *runningDemo) waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %v", timeout, what, err)
		}
		select {
		case <-d.exited:
			t.Fatalf("waiting for %s: atrium demo exited (%v); last error: %v", what, d.waitErr, err)
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-tick.C:
		}
	}
}

// interrupt sends SIGINT, as Ctrl-C does, and waits for a clean exit.
func (d *runningDemo) interrupt(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatalf("interrupt atrium demo: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(timeout):
		t.Fatalf("atrium demo still running %v after SIGINT", timeout)
	}
	if d.waitErr != nil {
		t.Errorf("atrium demo after SIGINT: %v, want exit status 0", d.waitErr)
	}
	out, _ := os.ReadFile(d.outPath)
	if !bytes.Contains(out, []byte("Stopping the demo region")) {
		t.Errorf("atrium demo did not say it was stopping the region; output:\n%s", out)
	}
}

func (d *runningDemo) logOutput(t *testing.T) {
	out, _ := os.ReadFile(d.outPath)
	t.Logf("atrium demo output:\n%s", out)
	logs, _ := filepath.Glob(filepath.Join(d.dir, "logs", "*.log"))
	for _, p := range logs {
		b, _ := os.ReadFile(p)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		lines = lines[max(0, len(lines)-25):]
		t.Logf("end of %s:\n%s", filepath.Base(p), strings.Join(lines, "\n"))
	}
}

// tableRows returns the fields of each row of a table printed by atrium ctl
// whose header starts with first.
func tableRows(out, first string) [][]string {
	var rows [][]string
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], first) {
		return nil
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) >= 3 {
			rows = append(rows, f)
		}
	}
	return rows
}

// enrolToken finds the token in `atrium ctl edge add`'s output: the
// indented line after "Enrolment token for …".
func enrolToken(out string) string {
	_, rest, ok := strings.Cut(out, "Enrolment token for ")
	if !ok {
		return ""
	}
	for _, l := range strings.Split(rest, "\n")[1:] {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// call sends a JSON request with the session token (if any) and decodes a
// 2xx answer into out. It returns the status and the raw body.
func call(ctx context.Context, method, url, token string, in, out any) (int, []byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, data, fmt.Errorf("%s %s: decode %q: %w", method, url, data, err)
		}
	}
	return resp.StatusCode, data, nil
}

func getJSON(ctx context.Context, url, token string, out any) error {
	code, body, err := call(ctx, http.MethodGet, url, token, nil, out)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s = %d %s", url, code, body)
	}
	return nil
}

// login opens a session at base and returns its token.
func login(ctx context.Context, base, login, password string) (string, error) {
	var s struct {
		Token string `json:"token"`
	}
	code, body, err := call(ctx, http.MethodPost, base+"/api/v1/session", "", map[string]string{"login": login, "password": password}, &s)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK || s.Token == "" {
		return "", fmt.Errorf("POST %s/api/v1/session as %s = %d %s, want 200 and a token", base, login, code, body)
	}
	return s.Token, nil
}

// countSubject counts the messages with subject that the session token
// sees at base.
func countSubject(ctx context.Context, base, token, subject string) (int, error) {
	var msgs []message
	if err := getJSON(ctx, base+"/api/v1/messages", token, &msgs); err != nil {
		return 0, err
	}
	n := 0
	for _, m := range msgs {
		if m.Subject == subject {
			n++
		}
	}
	return n, nil
}

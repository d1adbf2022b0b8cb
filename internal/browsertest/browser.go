package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// ChromiumPath is where Debian's chromium package installs the browser
// (.ci/run installs it on CI machines).
const ChromiumPath = "/usr/bin/chromium"

const (
	// actionTimeout bounds each action: an element that never appears or a
	// click that leads nowhere fails the test after it, with the page's
	// address, instead of hanging until the test binary's timeout.
	actionTimeout = 20 * time.Second
	// windowWidth and windowHeight are the fixed window size, so layouts and
	// visibility do not depend on the machine.
	windowWidth, windowHeight = 1280, 900
)

// The shared browser of the test process: started by the first New, stopped
// by Main after the tests.
var (
	mainRunning atomic.Bool
	shared      struct {
		sync.Mutex
		started bool
		err     error // why the browser could not start
		dir     string
		root    context.Context // the browser's first tab; parent of every Browser
		stop    func()
	}
)

// Main runs the tests of a package that uses New and stops the shared
// browser after them; it exits the process. The package's TestMain calls it:
//
//	func TestMain(m *testing.M) { browsertest.Main(m) }
//
// The run fails if a chromium process is left once the browser is stopped.
func Main(m *testing.M) {
	mainRunning.Store(true)
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "browsertest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// start launches the shared headless chromium once.
func start() (context.Context, error) {
	shared.Lock()
	defer shared.Unlock()
	if shared.started {
		return shared.root, shared.err
	}
	shared.started = true
	if _, err := os.Stat(ChromiumPath); err != nil {
		shared.err = fmt.Errorf("%w; install Debian's chromium: apt-get install chromium", err)
		return nil, shared.err
	}
	dir, err := os.MkdirTemp("", "atrium-browsertest-")
	if err != nil {
		shared.err = err
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		// CI runs the tests as root, and chromium refuses to start its
		// sandbox as root: the pages are our own portal's, on loopback.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(windowWidth, windowHeight),
	)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	root, rootCancel := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(root); err != nil { // starts the browser
		rootCancel()
		allocCancel()
		os.RemoveAll(dir)
		shared.err = fmt.Errorf("start %s: %w", ChromiumPath, err)
		return nil, shared.err
	}
	shared.dir, shared.root = dir, root
	shared.stop = func() {
		ctx, cancel := context.WithTimeout(root, 10*time.Second)
		defer cancel()
		chromedp.Cancel(ctx) // closes the browser gracefully
		rootCancel()
		allocCancel()
	}
	return root, nil
}

// shutdown stops the shared browser, checks that none of its processes
// remain, and removes its profile directory.
func shutdown() error {
	shared.Lock()
	defer shared.Unlock()
	if shared.stop == nil {
		return nil
	}
	shared.stop()
	shared.stop = nil
	// Chromium's helpers (zygote, renderers, network service) carry the
	// profile directory on their command line; they end after the browser.
	flag := "--user-data-dir=" + shared.dir
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := processesWith(flag)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("chromium processes %v still running after the browser stopped", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return os.RemoveAll(shared.dir)
}

// processesWith lists the processes whose command line has the argument arg.
func processesWith(arg string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for a := range bytes.SplitSeq(cmdline, []byte{0}) {
			if string(a) == arg {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// Browser is one person's browser: an incognito context of the shared
// chromium with one tab. Its methods fail the test on error (the browser
// failing, an element not appearing before the deadline), so a test reads as
// the journey it checks. Use it from the test goroutine only.
type Browser struct {
	t      testing.TB
	ctx    context.Context
	status int // HTTP status of the last page loaded

	mu    sync.Mutex
	meter *meter // non-nil while PageWeight measures
}

// meter adds up the bytes of the requests of one page load.
type meter struct {
	loader   cdp.LoaderID                 // the document's, once requested
	pending  map[network.RequestID]string // request → URL
	bytes    int64
	requests int
}

// New opens a fresh incognito browser (no cookies, no cache) in the shared
// chromium, started on first use; t.Cleanup closes it. The test fails if
// chromium is not installed, or if TestMain does not call Main.
func New(t testing.TB) *Browser {
	t.Helper()
	if !mainRunning.Load() {
		t.Fatal("browsertest: the package's TestMain must call browsertest.Main(m), which stops the browser after the tests")
	}
	root, err := start()
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	b := &Browser{t: t}
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.onEvent))
	t.Cleanup(cancel)
	b.ctx = ctx
	// The first action opens the tab, which then lives as long as the
	// context it ran with: b.ctx itself, not a context with the action
	// deadline, which would close the tab when the action returns.
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(ctx) }()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("browsertest: open a tab: %v", err)
		}
	case <-time.After(actionTimeout):
		cancel()
		t.Fatalf("browsertest: no tab opened after %v", actionTimeout)
	}
	// Caching is off so every page weighs what a first visit downloads.
	b.do("turn the cache off", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
		return err
	}))
	return b
}

// onEvent runs in the tab's event loop: it must return fast.
func (b *Browser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.meter
	if m == nil {
		return
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		// The page's requests share the loader of its document; the
		// browser's own (the favicon) are not the page's.
		if m.loader == "" && ev.Type == network.ResourceTypeDocument {
			m.loader = ev.LoaderID
		}
		if ev.LoaderID != m.loader || ev.Type == network.ResourceTypeOther {
			return
		}
		if ev.RedirectResponse == nil {
			m.requests++
		}
		m.pending[ev.RequestID] = ev.Request.URL
	case *network.EventLoadingFinished:
		if _, ok := m.pending[ev.RequestID]; ok {
			m.bytes += int64(ev.EncodedDataLength)
			delete(m.pending, ev.RequestID)
		}
	case *network.EventLoadingFailed:
		delete(m.pending, ev.RequestID)
	}
}

// do runs actions in the tab with the action deadline, failing the test with
// what was being done and where.
func (b *Browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browsertest: %s on %s: %v", what, b.location(), err)
	}
}

// load runs an action that leads to a new page and waits until the page
// and its resources have loaded.
func (b *Browser) load(what string, action chromedp.Action[*network.Response]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	from := b.location()
	resp, err := chromedp.Run(ctx, action)
	if err != nil {
		b.t.Fatalf("browsertest: %s on %s: %v", what, from, err)
	}
	if resp != nil {
		b.status = int(resp.Status)
	}
}

// location is the tab's address, for failure messages.
func (b *Browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page)"
	}
	return loc
}

// clickAndWait runs a click and waits for the page it loads.
func clickAndWait(click chromedp.Action[chromedp.Void]) chromedp.Action[*network.Response] {
	return func(ctx context.Context, _ *chromedp.Target) (*network.Response, error) {
		return chromedp.RunResponse(ctx, click)
	}
}

// Visit loads url and waits until the page and its resources have loaded.
func (b *Browser) Visit(url string) {
	b.t.Helper()
	b.load("visit "+url, chromedp.NavigateResponse(url))
}

// Status is the HTTP status of the last page loaded (by Visit, Click,
// ClickLink or Submit).
func (b *Browser) Status() int { return b.status }

// URL is the address of the page shown.
func (b *Browser) URL() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("browsertest: read the address: %v", err)
	}
	return loc
}

// Fill replaces the text of the form field matching the CSS selector: it
// focuses the field, selects what it holds and deletes it with the keyboard,
// then enters text at once, as a paste does (typing key by key costs a
// round trip to the browser per key). A date or time field, whose typing
// depends on the browser's locale, gets its value (AAAA-MM-JJ, HH:MM) set
// by the browser for the test, as Select does.
func (b *Browser) Fill(selector, text string) {
	b.t.Helper()
	b.do("wait for "+selector, chromedp.WaitVisible(chromedp.CSS(selector)))
	sel, _ := json.Marshal(selector)
	value, _ := json.Marshal(text)
	js := fmt.Sprintf(`(() => {
	const e = document.querySelector(%s);
	if (!["date", "time", "datetime-local", "month", "week"].includes(e.type)) return "typed";
	e.value = %s;
	e.dispatchEvent(new Event("input", {bubbles: true}));
	e.dispatchEvent(new Event("change", {bubbles: true}));
	return e.value;
})()`, sel, value)
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	set, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("browsertest: fill %s on %s: %v", selector, b.location(), err)
	}
	if set != "typed" {
		if set != text {
			b.t.Fatalf("browsertest: %s on %s does not take %q (its value: %q)", selector, b.location(), text, set)
		}
		return
	}
	b.do("fill "+selector,
		chromedp.Focus(chromedp.CSS(selector)),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.Delete),
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}))
}

// Select chooses, in the drop-down list matching the CSS selector, the
// first option whose visible text contains text (a person looks for a name,
// whatever follows it).
func (b *Browser) Select(selector, text string) {
	b.t.Helper()
	b.do("wait for "+selector, chromedp.WaitVisible(chromedp.CSS(selector)))
	sel, _ := json.Marshal(selector)
	want, _ := json.Marshal(text)
	// Run by the browser for the test: it works when the page's own
	// scripts are disabled.
	js := fmt.Sprintf(`(() => {
	const s = document.querySelector(%s), want = %s;
	const o = [...s.options].find(o => o.text.includes(want));
	if (!o) return [...s.options].map(o => o.text.trim()).join(" | ");
	s.value = o.value;
	s.dispatchEvent(new Event("input", {bubbles: true}));
	s.dispatchEvent(new Event("change", {bubbles: true}));
	return "";
})()`, sel, want)
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	options, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("browsertest: select %q in %s on %s: %v", text, selector, b.location(), err)
	}
	if options != "" {
		b.t.Fatalf("browsertest: %s on %s has no option with %q; its options: %s", selector, b.location(), text, options)
	}
}

// Click clicks the element matching the CSS selector, a link or a button
// that loads a page, and waits until that page has loaded.
func (b *Browser) Click(selector string) {
	b.t.Helper()
	b.load("click "+selector, clickAndWait(chromedp.Click(chromedp.CSS(selector))))
}

// ClickLink follows the link whose visible text is text (spaces trimmed)
// and waits until the page it leads to has loaded.
func (b *Browser) ClickLink(text string) {
	b.t.Helper()
	q := "'"
	if strings.Contains(text, q) {
		q = `"`
	}
	xpath := fmt.Sprintf("//a[normalize-space(.)=%s%s%s]", q, text, q)
	b.load(fmt.Sprintf("follow the link %q", text), clickAndWait(chromedp.Click(chromedp.Search(xpath))))
}

// Submit submits the form matching the CSS selector as a person does, by
// clicking its submit button, and waits until the answer has loaded.
func (b *Browser) Submit(formSelector string) {
	b.t.Helper()
	// A browser does not send a form whose fields are invalid (a required
	// field left empty): say which, rather than wait for a page that will
	// not come.
	sel, _ := json.Marshal(formSelector)
	js := fmt.Sprintf(`[...document.querySelector(%s).elements].filter(e => e.willValidate && !e.checkValidity()).map(e => (e.name || e.id) + ": " + e.validationMessage).join("; ")`, sel)
	b.do("wait for "+formSelector, chromedp.WaitVisible(chromedp.CSS(formSelector)))
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	invalid, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("browsertest: check the fields of %s on %s: %v", formSelector, b.location(), err)
	}
	if invalid != "" {
		b.t.Fatalf("browsertest: %s on %s cannot be sent, its fields are invalid: %s", formSelector, b.location(), invalid)
	}
	b.load("submit "+formSelector, clickAndWait(chromedp.Click(chromedp.CSS(formSelector+" [type=submit]"))))
}

// Text is the visible text of the first element matching the CSS selector,
// waiting for it to appear.
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		b.t.Fatalf("browsertest: read the text of %s on %s: %v", selector, b.location(), err)
	}
	return s
}

// WaitVisible waits until the element matching the CSS selector is shown.
func (b *Browser) WaitVisible(selector string) {
	b.t.Helper()
	b.do("wait for "+selector+" to be visible", chromedp.WaitVisible(chromedp.CSS(selector)))
}

// Title is the page's title.
func (b *Browser) Title() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		b.t.Fatalf("browsertest: read the title on %s: %v", b.location(), err)
	}
	return s
}

// DisableJavaScript turns off the pages' scripts in this browser, as for a
// person who disabled them: the pages loaded next must work without.
func (b *Browser) DisableJavaScript() {
	b.t.Helper()
	b.do("disable JavaScript", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
}

// PageWeight loads url with an empty cache and returns the bytes received
// for it and every resource it loaded (headers and bodies as sent on the
// wire, compressed if they were), which is what a slow link must carry.
func (b *Browser) PageWeight(url string) int64 {
	b.t.Helper()
	b.mu.Lock()
	b.meter = &meter{pending: map[network.RequestID]string{}}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.meter = nil
		b.mu.Unlock()
	}()
	b.Visit(url)
	// The load event can reach us before the last loadingFinished: poll.
	deadline := time.Now().Add(actionTimeout)
	for {
		b.mu.Lock()
		m := *b.meter
		left := slices.Collect(maps.Values(b.meter.pending))
		b.mu.Unlock()
		if len(left) == 0 {
			b.t.Logf("browsertest: %s weighs %d bytes in %d requests", url, m.bytes, m.requests)
			return m.bytes
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("browsertest: %s: %v still loading after %v", url, left, actionTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

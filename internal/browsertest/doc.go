// Package browsertest drives a real browser, Debian's chromium, for the
// portal's end-to-end tests: a person's journey through the login form, the
// links and the forms, asserted on what the page shows.
//
// One headless chromium serves a whole test process: the package's TestMain
// calls Main, the first New starts the browser, and Main stops it after the
// tests and fails the run if a chromium process outlives it. Each New opens
// a fresh incognito browser context, so two Browsers of one test are two
// people on two devices: cookies, cache and storage are never shared, and
// t.Cleanup closes the context with its tab.
//
// Every action waits for what it needs (an element to appear, the page a
// click leads to) up to a fixed deadline, and fails the test with the page's
// address and the action that failed; there is no sleeping.
//
// The package imports chromedp and cdproto, and nothing else may: a portal
// test speaks to the browser through this package only. It imports nothing
// of Atrium. A Browser belongs to the test goroutine that made it; Browsers
// of parallel tests are independent.
package browsertest

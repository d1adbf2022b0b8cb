package regiontest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// User is a logged-in user of one node, acting through the JSON API as the
// portal's scripts and mobile apps do.
type User struct {
	Base  string // node's HTTP base URL
	Login string
	token string
}

// Message is a message as the API shows it.
type Message struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// News is a news item as the API shows it.
type News struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Body   string `json:"body"`
	Region bool   `json:"region"`
}

// APIError is a refusal by the API: a 4xx/5xx status and its message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// Login opens a session at the node base.
func Login(ctx context.Context, base, login, password string) (*User, error) {
	var out struct {
		Token string `json:"token"`
	}
	u := &User{Base: base, Login: login}
	if err := u.call(ctx, http.MethodPost, "/api/v1/session", map[string]string{"login": login, "password": password}, &out); err != nil {
		return nil, fmt.Errorf("login %s at %s: %w", login, base, err)
	}
	u.token = out.Token
	return u, nil
}

// Activate activates an imported account at the node base with its
// activation code and a new password, and opens a session.
func Activate(ctx context.Context, base, login, code, password string) (*User, error) {
	var out struct {
		Token string `json:"token"`
	}
	u := &User{Base: base, Login: login}
	if err := u.call(ctx, http.MethodPost, "/api/v1/activation", map[string]string{"login": login, "code": code, "password": password}, &out); err != nil {
		return nil, fmt.Errorf("activate %s at %s: %w", login, base, err)
	}
	u.token = out.Token
	return u, nil
}

// Messages lists the user's messages.
func (u *User) Messages(ctx context.Context) ([]Message, error) {
	var m []Message
	err := u.call(ctx, http.MethodGet, "/api/v1/messages", nil, &m)
	return m, err
}

// Send sends a message to the user with login to.
func (u *User) Send(ctx context.Context, to, subject, body string) (Message, error) {
	var m Message
	err := u.call(ctx, http.MethodPost, "/api/v1/messages", map[string]string{"to": to, "subject": subject, "body": body}, &m)
	return m, err
}

// News lists the news the user sees.
func (u *User) News(ctx context.Context) ([]News, error) {
	var n []News
	err := u.call(ctx, http.MethodGet, "/api/v1/news", nil, &n)
	return n, err
}

// Publish publishes news (region-wide when region is true).
func (u *User) Publish(ctx context.Context, title, body string, region bool) (News, error) {
	var n News
	err := u.call(ctx, http.MethodPost, "/api/v1/news", map[string]any{"title": title, "body": body, "region": region}, &n)
	return n, err
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func (u *User) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.Base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(data, &e)
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, data, err)
		}
	}
	return nil
}

// Token is the user's session token.
func (u *User) Token() string { return u.token }

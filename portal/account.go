package portal

import (
	"net/http"
	"time"

	"atrium/ent"
	"atrium/record"
)

// Accounts: activation (public), the user's own account, and the
// management of a lycée's accounts by its administrators.

// accountView is what the account templates read, beside the common view.
type accountView struct {
	*view
	Notice   string       // a confirmation, shown above the content
	Accounts []accountRow // the lycée's accounts
	Letters  []ent.Letter // printable activation letters
	Reset    *resetResult // the code a reset just gave, shown once
	Edge     bool         // served by the lycée's edge
}

// accountRow is a line of the accounts table.
type accountRow struct {
	ID, Name, Login, Profile, State string
}

// resetResult is the outcome of a reset, for the administrator to hand
// over.
type resetResult struct {
	Name, Login, Code string
}

func (p *Portal) newAccountView(r *http.Request, title string, s *session) *accountView {
	return &accountView{view: p.newView(r, title, s), Edge: p.cfg.Role == "edge"}
}

var errPasswordsDiffer = record.Reject("invalid", "Les deux mots de passe saisis ne sont pas identiques.")

// Confirmations shown on the account page after a redirect.
var accountNotices = map[string]string{
	"active":  "Votre compte est activé et vous êtes connecté. Retenez bien votre mot de passe : le code d'activation ne sert plus.",
	"modifie": "Votre mot de passe a été modifié.",
}

func (p *Portal) activationForm(w http.ResponseWriter, r *http.Request) {
	if _, err := p.authenticate(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p.render(w, http.StatusOK, "activation", p.newAccountView(r, "Activer votre compte", nil))
}

func (p *Portal) activationPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if !sameOrigin(r) || r.ParseForm() != nil {
		p.fail(w, r, nil, record.Reject("forbidden", "Formulaire d'origine inconnue."))
		return
	}
	f := r.PostForm
	login, code := f.Get("login"), f.Get("code")
	var tok string
	var err error
	if f.Get("password") != f.Get("password2") {
		err = errPasswordsDiffer
	} else {
		tok, _, err = p.cfg.Service.Activate(r.Context(), login, code, f.Get("password"), client(r))
	}
	if err != nil {
		st, msg := status(err)
		if st == http.StatusInternalServerError {
			p.log.Error("portal activation", "err", err)
		}
		setRetryAfter(w, err)
		v := p.newAccountView(r, "Activer votre compte", nil)
		v.Error = msg
		v.Form["login"], v.Form["code"] = login, code
		p.render(w, st, "activation", v)
		return
	}
	p.setSessionCookie(w, r, tok, 0)
	http.Redirect(w, r, "/compte?ok=active", http.StatusSeeOther)
}

func (p *Portal) accountPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.newAccountView(r, "Mon compte", s)
	v.Notice = accountNotices[r.URL.Query().Get("ok")]
	p.render(w, http.StatusOK, "account", v)
}

func (p *Portal) accountPost(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	err := errPasswordsDiffer
	if f.Get("password") == f.Get("password2") {
		err = p.cfg.Service.ChangePassword(r.Context(), s.user, f.Get("old"), f.Get("password"))
	}
	if err != nil {
		st, msg := status(err)
		if st == http.StatusInternalServerError || st == http.StatusUnauthorized {
			p.fail(w, r, s, err)
			return
		}
		setRetryAfter(w, err)
		v := p.newAccountView(r, "Mon compte", s)
		v.Error = msg
		p.render(w, st, "account", v)
		return
	}
	http.Redirect(w, r, "/compte?ok=modifie", http.StatusSeeOther)
}

// accountState is how the accounts table describes an account.
func (p *Portal) accountState(u ent.User) string {
	switch {
	case u.Departed:
		return "Fermé (absent de l'annuaire)"
	case u.MissingSince != 0:
		return "Absent de l'annuaire depuis le " + time.UnixMilli(u.MissingSince).In(p.paris).Format("02/01/2006")
	case u.ActivationHash != "":
		return "En attente d'activation"
	case u.Active:
		return "Actif"
	}
	return "Désactivé"
}

func (p *Portal) accountsAdmin(w http.ResponseWriter, r *http.Request, s *session) {
	accounts, err := p.cfg.Service.Accounts(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.newAccountView(r, "Gestion des comptes", s)
	for _, u := range accounts {
		v.Accounts = append(v.Accounts, accountRow{ID: u.ID, Name: u.Name, Login: u.Login,
			Profile: ent.ProfileLabel(u.Profile), State: p.accountState(u)})
	}
	p.render(w, http.StatusOK, "accounts_admin", v)
}

func (p *Portal) accountReset(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	accounts, err := p.cfg.Service.Accounts(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	var target *ent.User
	for i := range accounts {
		if accounts[i].ID == id {
			target = &accounts[i]
		}
	}
	if target == nil {
		p.fail(w, r, s, record.Reject("not_found", "Compte inconnu dans votre lycée."))
		return
	}
	code, err := p.cfg.Service.ResetAccount(r.Context(), s.user, id)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.newAccountView(r, "Nouveau code d'activation", s)
	v.Reset = &resetResult{Name: target.Name, Login: target.Login, Code: code}
	p.render(w, http.StatusOK, "accounts_admin", v)
}

func (p *Portal) accountLetters(w http.ResponseWriter, r *http.Request, s *session) {
	letters, err := p.cfg.Service.PendingLetters(r.Context(), s.user)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := p.newAccountView(r, "Lettres d'activation", s)
	v.Letters = letters
	p.render(w, http.StatusOK, "account_letters", v)
}

func (p *Portal) apiActivation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Login    string `json:"login"`
		Code     string `json:"code"`
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		p.apiError(w, r, err)
		return
	}
	tok, u, err := p.cfg.Service.Activate(r.Context(), in.Login, in.Code, in.Password, client(r))
	if err != nil {
		p.apiError(w, r, err)
		return
	}
	p.setSessionCookie(w, r, tok, 0)
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": toAPIUser(u)})
}

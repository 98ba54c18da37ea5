package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/gcbatch/gcbatch/checkpoint"
	"github.com/gcbatch/gcbatch/getcourse"
)

// rerunAdvice says whether running the same command again can help.
type rerunAdvice int

const (
	// rerunNow: the cause is gone or passes by itself; rerunning resumes.
	rerunNow rerunAdvice = iota
	// rerunLater: rerunning helps after a time (Explanation.When says when).
	rerunLater
	// rerunAfterChange: rerunning helps only after the user changes something (the key, its
	// rights, the plan, a flag).
	rerunAfterChange
	// rerunNever: a bug of ours; rerunning repeats it.
	rerunNever
)

// explanation is what a person needs to know about a fatal answer, in English, with the
// service's own (Russian) text kept beside it.
type explanation struct {
	// Headline says what happened in one line ("GetCourse refused the API key").
	Headline string
	// Service is the service's answer as the client reports it ("POST /pl/api/users:
	// Неавторизованное API-обращение"); "" when the refusal was ours (the local budget).
	Service string
	// Why explains the cause; Do says what to do next.
	Why, Do string
	// Rerun says whether rerunning helps; When is the condition or time for rerunLater and
	// rerunAfterChange ("after the key is fixed", "after 15:04").
	Rerun rerunAdvice
	When  string
}

// explain turns every fatal kind of answer (getcourse.KindOf) into an explanation; ok is
// false for errors that explain themselves (usage, files, the network). It is the one place
// that words these answers, for every command: import, validate --online, export, groups.
func (g *globals) explain(err error) (explanation, bool) {
	if err == nil {
		return explanation{}, false
	}
	var bs *checkpoint.BudgetSpent
	if errors.As(err, &bs) {
		// gcbatch's own refusal: its count in the state file (or a 903 it recorded) says the
		// budget is spent, so it does not call until the window frees up.
		e := budgetExplanation("", bs.Until, g.Now())
		e.Why = bs.Error() + " (GetCourse allows 100 export-API calls per 2 hours per account, shared by every integration of the account)"
		if bs.Service {
			e.Service = "Слишком много запросов (код 903), answered earlier; gcbatch does not call again before the window frees up"
		}
		return e, true
	}
	var ae *getcourse.APIError
	if !errors.As(err, &ae) {
		return explanation{}, false
	}
	svc := ae.Error()
	importCall := !strings.HasPrefix(ae.Path, "/pl/api/account/")
	switch ae.Kind {
	case getcourse.KindAuth:
		e := explanation{Headline: "GetCourse refused the API key", Service: svc, Rerun: rerunAfterChange,
			When: "once the key is fixed"}
		if ae.HTTPStatus == http.StatusNotFound || strings.Contains(strings.ToLower(ae.Message), "subdomain") {
			e.Headline = "GetCourse does not know this account"
			e.Why = "the account name or base URL (" + g.accountDescription() + ") does not lead to a GetCourse account"
			e.Do = "check --account NAME (https://NAME.getcourse.ru) or --base-url URL (GETCOURSE_ACCOUNT / GETCOURSE_BASE_URL): an account on its own domain is called on that domain"
			e.When = "once the account is fixed"
			return e, true
		}
		e.Why = fmt.Sprintf("the key gcbatch sent (%s) is wrong, was replaced in GetCourse, or belongs to another account than %s", g.keySource(), g.accountDescription())
		e.Do = "copy the account's key from GetCourse (Настройки аккаунта → API → «Секретный ключ») and give it to gcbatch in one of three ways: " +
			"the GETCOURSE_API_KEY environment variable, a GETCOURSE_API_KEY=... line in .env in the working folder, or a file named with --key-file PATH; " +
			"check that --account / --base-url names the account the key belongs to"
		return e, true
	case getcourse.KindForbidden:
		e := explanation{Headline: "GetCourse refused the action for this key", Service: svc, Rerun: rerunAfterChange,
			When: "once the key may do it"}
		what := "this call"
		if importCall {
			what = "importing (creating and updating users, deals, sending messages)"
		}
		e.Why = fmt.Sprintf("the key (%s) is accepted, but may not do %s: a read-only key, or one without the right for this action", g.keySource(), what)
		e.Do = "in GetCourse (Настройки аккаунта → API) use a key with the rights this needs, and give it to gcbatch through GETCOURSE_API_KEY, .env or --key-file PATH"
		return e, true
	case getcourse.KindPlan, getcourse.KindNoImportAPI:
		e := explanation{Headline: "the account's plan does not include the API", Service: svc, Rerun: rerunAfterChange,
			When: "once the plan allows it"}
		if importCall || ae.Kind == getcourse.KindNoImportAPI {
			e.Headline = "the account's plan does not include the import API"
			e.Why = "GetCourse answers import calls on this plan with an empty page and writes nothing (exports, groups and fields may still work); no row was put in doubt"
		} else {
			e.Why = "GetCourse says the feature is not available on the account's plan (Функционал недоступен): trial and some plans have no API"
		}
		e.Do = "switch the account to a plan with API access (GetCourse: Настройки аккаунта → Тариф), or ask GetCourse support to enable the API"
		return e, true
	case getcourse.KindUntrustedTLS:
		return explanation{Headline: "the service's TLS certificate is not trusted", Service: svc,
			Why:   "the certificate of " + g.accountDescription() + " is not trusted by this computer (an unknown authority, a name that does not match, or an expired certificate): a proxy or antivirus that inspects HTTPS, a wrong --base-url, or a misconfigured server. Nothing was sent",
			Do:    "check --base-url / --account; on a company network, ask for the inspecting proxy's root certificate to be installed in the system's store. gcbatch never turns certificate checks off",
			Rerun: rerunAfterChange, When: "once the certificate is trusted"}, true
	case getcourse.KindNoSuchHost:
		return explanation{Headline: "the service's address does not resolve", Service: svc,
			Why:   "the host name of " + g.accountDescription() + " is unknown to DNS: a typo in the account name or base URL, or no working DNS. Nothing was sent",
			Do:    "check --account NAME (https://NAME.getcourse.ru) or --base-url URL, and the network connection",
			Rerun: rerunAfterChange, When: "once the address resolves"}, true
	case getcourse.KindQuota:
		next := firstOfNextMonth(g.Now())
		return explanation{Headline: "the account's monthly allowance of new objects is used up", Service: svc,
			Why:   "GetCourse counts the users and deals created each month against the plan's allowance (updates do not count); it is spent, so nothing more can be created this month",
			Do:    "wait for the allowance to renew, or raise the plan (GetCourse: Настройки аккаунта → Тариф)",
			Rerun: rerunLater, When: "when the allowance renews (the next month, from " + next.Format("2006-01-02") + ") or after the plan is raised"}, true
	case getcourse.KindBudget:
		return budgetExplanation(svc, time.Time{}, g.Now()), true
	case getcourse.KindInternal:
		if ae.HTTPStatus >= 300 && ae.HTTPStatus < 400 {
			return explanation{Headline: "the service redirected the call", Service: svc,
				Why:   "the account answers on another address; a redirected POST loses its data, so gcbatch does not follow it",
				Do:    "call the account on its own domain with --base-url (or GETCOURSE_BASE_URL), as the service's message says",
				Rerun: rerunAfterChange, When: "with the right --base-url"}, true
		}
		return explanation{Headline: "the service could not read what gcbatch sent", Service: svc,
			Why:   "gcbatch built a request the service does not understand: a bug in gcbatch, not in your file or account",
			Do:    "please report it with the output of 'gcbatch version' and a log (--log FILE); rerunning repeats the same request",
			Rerun: rerunNever}, true
	}
	return explanation{}, false
}

// budgetExplanation words the service's 903, the account's export budget spent; until is
// when gcbatch will call again (zero when unknown).
func budgetExplanation(service string, until time.Time, now time.Time) explanation {
	e := explanation{Headline: "the account's export budget is spent", Rerun: rerunLater, Service: service,
		Why: "GetCourse allows 100 export-API calls per 2 hours per account (polls, group and field lists included), shared by every integration of the account, and answered 903: other tools have spent it, or this one's count in the state file was behind"}
	if until.IsZero() || !until.After(now) {
		e.When = "within 2 hours, when the oldest calls leave the window"
	} else {
		e.When = "after " + until.Local().Format("15:04") + " (" + until.Sub(now).Round(time.Minute).String() + ")"
	}
	e.Do = "wait and rerun, or pass --wait-for-budget to wait for it; other tools calling the export API of this account spend the same budget"
	return e
}

func firstOfNextMonth(now time.Time) time.Time {
	y, m, _ := now.Date()
	return time.Date(y, m+1, 1, 0, 0, 0, 0, now.Location())
}

// Write prints the explanation as an indented block; resume is the command line that
// resumes the work ("" when there is none) and appears only when rerunning can help.
func (e explanation) Write(w io.Writer, resume string) {
	fmt.Fprintf(w, "  why       %s\n", e.Why)
	if e.Service != "" {
		fmt.Fprintf(w, "  service   %s\n", e.Service)
	}
	fmt.Fprintf(w, "  do        %s\n", e.Do)
	helps := "; it helps " + e.When
	if resume != "" {
		helps = "" // the resume line says when
	}
	switch e.Rerun {
	case rerunNow:
		fmt.Fprintf(w, "  rerun     rerunning now resumes\n")
	case rerunLater:
		fmt.Fprintf(w, "  rerun     rerunning now would stop the same way%s\n", helps)
	case rerunAfterChange:
		fmt.Fprintf(w, "  rerun     rerunning as it is would stop the same way%s\n", helps)
	case rerunNever:
		fmt.Fprintf(w, "  rerun     rerunning will not help\n")
	}
	if resume != "" && e.Rerun != rerunNever {
		fmt.Fprintf(w, "  resume    %s: %s\n", e.When, resume)
	}
}

// explainedError is a fatal answer with its explanation; its text is what main prints.
type explainedError struct {
	exp explanation
	err error
	// resume is the command that resumes the work, "" when there is none to show.
	resume string
}

func (e *explainedError) Error() string {
	var b strings.Builder
	b.WriteString(e.exp.Headline + "\n")
	e.exp.Write(&b, e.resume)
	return strings.TrimRight(b.String(), "\n")
}
func (e *explainedError) Unwrap() error { return e.err }

// explained returns err with its explanation as its message, wrapped for exit code 3 (a
// fatal answer stops the command early); errors without an explanation come back as they are.
func (g *globals) explained(err error) error {
	exp, ok := g.explain(err)
	if !ok {
		return err
	}
	return exitErr(3, &explainedError{exp: exp, err: err})
}

// keySource says where the key came from, for messages; never the key itself.
func (g *globals) keySource() string {
	switch {
	case g.KeyFile != "":
		return "from --key-file " + g.KeyFile
	case g.Getenv("GETCOURSE_API_KEY") != "":
		return "from the GETCOURSE_API_KEY environment variable"
	}
	return "from GETCOURSE_API_KEY in " + filepath.Join(g.WorkDir, ".env")
}

// accountDescription names the account the flags point at, for messages.
func (g *globals) accountDescription() string {
	base := g.BaseURL
	if base == "" {
		base = g.env("GETCOURSE_BASE_URL")
	}
	if base != "" {
		return base
	}
	account := g.Account
	if account == "" {
		account = g.env("GETCOURSE_ACCOUNT")
	}
	if account != "" {
		return "https://" + account + ".getcourse.ru"
	}
	return "the account"
}

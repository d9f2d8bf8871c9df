package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/atriumhq/atrium/core/api/model"
)

func newLoginCommand() *cobra.Command {
	var r remote
	var operator bool
	var tenant, email, password string
	cmd := &cobra.Command{
		Use:   "login (--operator | --tenant SLUG) [--email EMAIL]",
		Short: "Sign in and keep the tokens for the other commands",
		Long: `login signs in as a platform operator (--operator) or as a user of a tenant
(--tenant SLUG) and keeps the token pair in os.UserConfigDir()/atrium/credentials.json
(on Linux ~/.config/atrium/credentials.json), readable by you alone (0600, in a
0700 directory). Commands then use it unless --token or ATRIUM_TOKEN is given,
and refresh it with the refresh token when it has expired. An operator's and
a tenant user's sign-ins are kept side by side, per server.

The email comes from --email, ATRIUM_EMAIL or a prompt; the password from
--password, ATRIUM_PASSWORD or a prompt that does not echo (or a line of
stdin when it is not a terminal).`,
		Example: `  atrium login --operator --email ops@example.com
  ATRIUM_PASSWORD=... atrium login --tenant acme --email admin@acme.example
  echo "$PASSWORD" | atrium login --tenant acme --email admin@acme.example`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if operator == (tenant != "") {
				return usagef("give one of --operator or --tenant SLUG")
			}
			var err error
			if email == "" {
				if email, err = prompt(cmd, "Email: ", false); err != nil {
					return err
				}
			}
			if password == "" {
				if password, err = prompt(cmd, "Password: ", true); err != nil {
					return err
				}
			}
			path, body, kind := "/api/v1/auth/login", any(model.LoginRequest{Tenant: tenant, Email: email, Password: password}), asTenant
			if operator {
				path, body, kind = "/api/v1/operator/login", model.OperatorLoginRequest{Email: email, Password: password}, asOperator
			}
			var tok model.TokenResponse
			r.as = nil // login shows no token
			if err := r.call(cmd.Context(), http.MethodPost, path, body, &tok); err != nil {
				return err
			}
			store, err := r.store()
			if err != nil {
				return err
			}
			s := &session{Kind: kind, Tenant: tenant, Email: email}
			s.setTokens(tok)
			if err := store.put(r.base(), s); err != nil {
				return err
			}
			where := "as operator"
			if tenant != "" {
				where = "to tenant " + tenant
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "signed in %s as %s on %s\n", where, email, r.base())
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	cmd.Flags().BoolVar(&operator, "operator", false, "sign in as a platform operator")
	cmd.Flags().StringVar(&tenant, "tenant", "", "sign in as a user of this tenant (its slug)")
	cmd.Flags().StringVar(&email, "email", os.Getenv("ATRIUM_EMAIL"), "your email (ATRIUM_EMAIL)")
	cmd.Flags().StringVar(&password, "password", os.Getenv("ATRIUM_PASSWORD"), "your password (ATRIUM_PASSWORD; prompted for when absent, which keeps it out of the shell's history)")
	_ = cmd.RegisterFlagCompletionFunc("tenant", completeTenants)
	return cmd
}

func newLogoutCommand() *cobra.Command {
	var r remote
	var operator bool
	cmd := &cobra.Command{
		Use:   "logout [--operator]",
		Short: "Revoke the stored sign-in and forget it",
		Long: `logout revokes the stored sign-in on the server (its refresh tokens stop
working) and removes it from the credentials file: the tenant user's, or the
operator's with --operator. The sign-in is forgotten even when the server
cannot be reached; it then says so and exits 1.`,
		Example: `  atrium logout
  atrium logout --operator`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind, path := asTenant, "/api/v1/auth/logout"
			if operator {
				kind, path = asOperator, "/api/v1/operator/logout"
			}
			store, err := r.store()
			if err != nil {
				return err
			}
			sess, err := store.get(r.base(), kind)
			if err != nil {
				return err
			}
			if sess == nil {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "not signed in to %s as %s\n", r.base(), who(kind))
				return err
			}
			r.as = func() string { return kind }
			callErr := r.call(cmd.Context(), http.MethodPost, path, nil, nil)
			if err := store.remove(r.base(), kind); err != nil {
				return err
			}
			if callErr != nil && !isStatus(callErr, http.StatusUnauthorized) { // 401: it had already ended
				return fmt.Errorf("signed out locally, but the server did not revoke the sign-in: %w", callErr)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "signed out of %s\n", r.base())
			return err
		},
	}
	r.addFlags(cmd, asTenant)
	cmd.Flags().BoolVar(&operator, "operator", false, "sign the operator out (default: the tenant user)")
	return cmd
}

// prompt asks for a value on stderr and reads it from stdin: without echo
// when secret and stdin is a terminal, else one line.
func prompt(cmd *cobra.Command, label string, secret bool) (string, error) {
	fmt.Fprint(cmd.ErrOrStderr(), label)
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && secret && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		return string(b), err
	}
	line, err := readLine(in)
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", usagef("%sa value is required", strings.ToLower(label))
	}
	return line, nil
}

// readLine reads up to a newline one byte at a time, so a second prompt
// finds the rest of stdin where the first left it.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimRight(b.String(), "\r"), nil
}

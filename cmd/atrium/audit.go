package main

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// errBroken makes the process exit 1 after a report of a broken chain.
var errBroken = fmt.Errorf("the audit chain is broken: %w", errReported)

func newAuditCommand() *cobra.Command {
	audit := &cobra.Command{Use: "audit", Short: "Read and verify tenants' audit logs"}
	var r remote
	var tenant string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Walk a tenant's audit hash chain and report the first broken record",
		Long: `verify asks atriumd to walk the tenant's audit chain from the first record to
its head and to check it against the signed checkpoints in the blob store.

With --tenant it uses an operator token and names the tenant; without, the token
is a tenant admin's and the tenant is the token's. The token comes from --token
or ATRIUM_TOKEN. It exits 1 when the chain is broken.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/api/v1/audit/verify"
			if tenant != "" {
				path = "/api/v1/tenants/" + url.PathEscape(tenant) + "/audit/verify"
			}
			var v struct {
				OK                 bool   `json:"ok"`
				RecordsChecked     int64  `json:"records_checked"`
				FirstBrokenSeq     int64  `json:"first_broken_seq"`
				Problem            string `json:"problem"`
				Unsealed           int64  `json:"unsealed"`
				CheckpointsChecked int    `json:"checkpoints_checked"`
			}
			if err := r.call(cmd.Context(), http.MethodGet, path, nil, &v); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "records checked:      %d\ncheckpoints checked:  %d\nnot yet sealed:       %d\n",
				v.RecordsChecked, v.CheckpointsChecked, v.Unsealed)
			if !v.OK {
				fmt.Fprintf(out, "BROKEN at record %d: %s\n", v.FirstBrokenSeq, v.Problem)
				return errBroken
			}
			fmt.Fprintln(out, "the chain is intact")
			return nil
		},
	}
	r.addFlags(verify, "an access token")
	verify.Flags().StringVar(&tenant, "tenant", "", "the tenant's slug, with an operator token")
	audit.AddCommand(verify)
	return audit
}

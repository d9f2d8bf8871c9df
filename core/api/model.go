package api

import "github.com/atriumhq/atrium/core/api/model"

// The API's bodies live in core/api/model, shared with the atrium CLI; these
// aliases keep their names in this package for the handlers and the tests.
type (
	CreateTenantRequest         = model.CreateTenantRequest
	AdminRequest                = model.AdminRequest
	UpdateTenantRequest         = model.UpdateTenantRequest
	TenantResponse              = model.TenantResponse
	TenantList                  = model.TenantList
	StoredBackup                = model.StoredBackup
	RestoreRequest              = model.RestoreRequest
	UserResponse                = model.UserResponse
	UserList                    = model.UserList
	CreateUserRequest           = model.CreateUserRequest
	UpdateUserRequest           = model.UpdateUserRequest
	UserRolesRequest            = model.UserRolesRequest
	RoleResponse                = model.RoleResponse
	RoleList                    = model.RoleList
	CreateRoleRequest           = model.CreateRoleRequest
	PutRoleRequest              = model.PutRoleRequest
	PermissionList              = model.PermissionList
	ServiceAccountResponse      = model.ServiceAccountResponse
	ServiceAccountList          = model.ServiceAccountList
	CreateServiceAccountRequest = model.CreateServiceAccountRequest
	UpdateServiceAccountRequest = model.UpdateServiceAccountRequest
	CreateKeyRequest            = model.CreateKeyRequest
	CreatedKeyResponse          = model.CreatedKeyResponse
	KeyResponse                 = model.KeyResponse
	KeyList                     = model.KeyList
	OperatorLoginRequest        = model.OperatorLoginRequest
	LoginRequest                = model.LoginRequest
	RefreshRequest              = model.RefreshRequest
	TokenResponse               = model.TokenResponse
	MeResponse                  = model.MeResponse
	MeUser                      = model.MeUser
	MeTenant                    = model.MeTenant
	PolicyModule                = model.PolicyModule
	PolicyList                  = model.PolicyList
	PutPolicyRequest            = model.PutPolicyRequest
	RollbackRequest             = model.RollbackRequest
	EvaluateRequest             = model.EvaluateRequest
	EvaluateSubject             = model.EvaluateSubject
	EvaluateResponse            = model.EvaluateResponse
	EvaluateFilter              = model.EvaluateFilter
	BreakGlassRequest           = model.BreakGlassRequest
	BreakGlassRollbackRequest   = model.BreakGlassRollbackRequest
	AuditRecord                 = model.AuditRecord
	AuditList                   = model.AuditList
	CheckpointResponse          = model.CheckpointResponse
	Problem                     = model.Problem
	PluginStatus                = model.PluginStatus
	PluginLimits                = model.PluginLimits
	PluginRoute                 = model.PluginRoute
	PluginList                  = model.PluginList
	RegisterPluginRequest       = model.RegisterPluginRequest
)

// convert maps a domain slice to its API form; nil becomes empty, so a list
// is [] in JSON, never null.
func convert[S, D any](in []S, fn func(S) D) []D {
	out := make([]D, 0, len(in))
	for _, v := range in {
		out = append(out, fn(v))
	}
	return out
}

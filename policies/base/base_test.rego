package atrium.base_test

import data.atrium.base

member := {"id": "u1", "type": "user", "roles": ["member"], "permissions": ["projects.task.read", "identity.user.read"]}

test_rbac_allows_a_held_permission if {
	base.allow with input as {"action": "projects.task.read", "subject": member}
}

test_rbac_refuses_a_permission_not_held if {
	not base.allow with input as {"action": "projects.task.delete", "subject": member}
}

test_no_subject_permissions_allows_nothing if {
	not base.allow with input as {"action": "projects.task.read", "subject": {"id": "u1"}}
}

test_plugin_permissions_are_grantable if {
	base.grantable with input as {"action": "projects.task.delete", "subject": member}
	base.grantable with input as {"action": "documents.document.read", "subject": member}
}

test_reserved_permissions_are_never_grantable if {
	every action in ["identity.user.create", "identity.role.update", "access.policy.write", "audit.log.read", "tenancy.tenant.update", "platform.operator.create"] {
		not base.grantable with input as {"action": action, "subject": member}
	}
}

test_malformed_actions_are_denied if {
	every action in ["", "projects", "projects.task", "Projects.task.read", "projects.task.read.extra", "projects..read", "projects.task.read "] {
		base.deny["the action is not a permission name"] with input as {"action": action, "subject": {"permissions": [action]}}
	}
}

test_missing_action_is_denied if {
	base.deny["the action is not a permission name"] with input as {"subject": member}
	not base.allow with input as {"subject": member}
	not base.grantable with input as {"subject": member}
}

test_permission_names_are_not_denied if {
	count(base.deny) == 0 with input as {"action": "projects.task.read", "subject": member}
	count(base.deny) == 0 with input as {"action": "identity.user.create", "subject": member}
	count(base.deny) == 0 with input as {"action": "documents.document_version.read", "subject": member}
}

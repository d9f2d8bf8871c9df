package tenant.projects_test

import data.tenant.projects

owner := {"id": "u1", "roles": ["viewer"]}

project := {"type": "project", "id": "p1", "owner_id": "u1", "attributes": {"status": "active"}}

test_owner_may_update_their_project if {
	projects.allow["owners manage their own projects"] with input as {"action": "projects.project.update", "subject": owner, "resource": project}
}

test_others_get_no_grant if {
	count(projects.allow) == 0 with input as {"action": "projects.project.update", "subject": {"id": "u2"}, "resource": project}
}

test_the_grant_covers_update_and_delete_only if {
	count(projects.allow) == 0 with input as {"action": "projects.project.create", "subject": owner, "resource": project}
}

test_archived_projects_are_read_only if {
	archived := object.union(project, {"attributes": {"status": "archived"}})
	projects.deny["archived projects are read-only"] with input as {"action": "projects.project.update", "subject": owner, "resource": archived}
	count(projects.deny) == 0 with input as {"action": "projects.project.read", "subject": owner, "resource": archived}
}

test_contractors_never_delete if {
	projects.deny["contractors may not delete"] with input as {"action": "projects.task.delete", "subject": {"id": "u3", "roles": ["member", "contractor"]}}
}

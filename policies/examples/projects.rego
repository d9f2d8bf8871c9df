# Project owners manage their own projects even when their role does not
# hold the permission; archived projects are read-only; contractors never
# delete anything.
package tenant.projects

allow contains "owners manage their own projects" if {
	input.action in {"projects.project.update", "projects.project.delete"}
	input.resource.type == "project"
	input.resource.owner_id == input.subject.id
}

deny contains "archived projects are read-only" if {
	input.resource.type == "project"
	input.resource.attributes.status == "archived"
	not endswith(input.action, ".read")
}

deny contains "contractors may not delete" if {
	"contractor" in input.subject.roles
	endswith(input.action, ".delete")
}

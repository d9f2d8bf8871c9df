# Deletions only in office hours: Monday to Friday, 08:00 to 19:00 UTC.
# Time comes from input.request.time (policies have no clock of their own).
package tenant.office_hours

deny contains "deletions are allowed on weekdays from 08:00 to 19:00 UTC only" if {
	endswith(input.action, ".delete")
	not in_office_hours
}

in_office_hours if {
	ns := time.parse_rfc3339_ns(input.request.time)
	not time.weekday(ns) in {"Saturday", "Sunday"}
	[hour, _, _] := time.clock(ns)
	hour >= 8
	hour < 19
}

package model

// PluginStatus is a plugin as GET /api/v1/plugins shows it.
type PluginStatus struct {
	Name        string             `json:"name"`
	Version     string             `json:"version"`
	State       string             `json:"state"`
	Required    bool               `json:"required"`
	Restarts    int                `json:"restarts"`
	LastError   string             `json:"last_error,omitempty"`
	LastExit    string             `json:"last_exit,omitempty"`
	PID         int                `json:"pid,omitempty"`
	Limits      *PluginLimits      `json:"limits,omitempty"`
	Routes      []PluginRoute      `json:"routes"`
	Permissions []PluginPermission `json:"permissions"`
}

// PluginPermission is a permission a plugin declares. Its JSON keys are
// capitalised, as the API has always written them.
type PluginPermission struct {
	Name        string
	Description string
	Roles       []string
}

// PluginLimits is what confines a plugin's process: the mechanism (cgroup2,
// cgroup1, rlimit or off), the limits in force (0: none), the uid and gid it
// runs as, and each limit that could not be applied, with why.
type PluginLimits struct {
	Mechanism   string  `json:"mechanism"`
	MemoryBytes int64   `json:"memory_bytes"`
	CPU         float64 `json:"cpu"`
	// CPUWatchdog: CPU is held by killing a plugin above its share over
	// a window, not by the scheduler.
	CPUWatchdog bool     `json:"cpu_watchdog"`
	Processes   int      `json:"processes"`
	UID         int      `json:"uid"`
	GID         int      `json:"gid"`
	OwnUID      bool     `json:"own_uid"`
	Warnings    []string `json:"warnings"`
}

// PluginRoute is one of a plugin's routes.
type PluginRoute struct {
	Method     string `json:"method"`
	Path       string `json:"path"`
	Permission string `json:"permission"`
	Mutates    bool   `json:"mutates"`
}

// PluginList is every registered plugin.
type PluginList struct {
	Items []PluginStatus `json:"items"`
}

// RegisterPluginRequest registers a plugin binary, or upgrades one.
type RegisterPluginRequest struct {
	Name string `json:"name" validate:"required,max=31"`
	// File is the binary's name in ATRIUM_PLUGIN_DIR; its checksum is
	// recorded in the catalog and checked at every launch.
	File     string `json:"file" validate:"required,max=255"`
	Required bool   `json:"required"`
}

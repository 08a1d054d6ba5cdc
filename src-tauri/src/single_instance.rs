//! A second launch hands over to the app already running, before it starts
//! anything of its own.
//!
//! tauri-plugin-single-instance does the same from inside Tauri's start-up,
//! and exits the process there; by then GTK and tao are up, and tao's X11
//! device thread, opening its own display connection, can race that exit
//! and crash (seen as a rare SIGSEGV in XISelectEvents under load). So on
//! Linux, where the plugin owns a D-Bus name, the launch first asks the bus
//! whether that name has an owner and, if so, makes the same call the plugin
//! makes (its `ExecuteCallback` with our argv and cwd: the running app shows
//! its window) and exits before anything else starts. The plugin stays in
//! place: it owns the name in the first instance, and it still settles two
//! launches that start at the same moment. Elsewhere the plugin alone works
//! as before.

/// The well-known bus name the plugin owns for the app `identifier`.
pub fn bus_name(identifier: &str) -> String {
    format!("{identifier}.SingleInstance")
}

/// The object path the plugin serves at, derived from the bus name.
pub fn object_path(bus_name: &str) -> String {
    format!("/{}", bus_name.replace('.', "/").replace('-', "_"))
}

/// True when a running instance took over (this process should exit).
#[cfg(target_os = "linux")]
pub fn hand_over(identifier: &str) -> bool {
    use zbus::blocking::Connection;
    use zbus::blocking::fdo::DBusProxy;
    use zbus::names::BusName;

    let name = bus_name(identifier);
    let Ok(bus_name) = BusName::try_from(name.as_str()) else {
        return false;
    };
    // No session bus: the plugin will say so and launch normally.
    let Ok(connection) = Connection::session() else {
        return false;
    };
    let running = DBusProxy::new(&connection)
        .ok()
        .and_then(|dbus| dbus.name_has_owner(bus_name).ok())
        .unwrap_or(false);
    if !running {
        return false;
    }
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cwd = std::env::current_dir()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    match connection.call_method(
        Some(name.as_str()),
        object_path(&name).as_str(),
        Some("org.SingleInstance.DBus"),
        "ExecuteCallback",
        &(argv, cwd),
    ) {
        Ok(_) => true,
        Err(e) => {
            // Leave it to the plugin, which tries the same and reports.
            tracing::warn!(error = %e, "cannot reach the running instance");
            false
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn hand_over(_identifier: &str) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_plugin() {
        let name = bus_name("org.avatarium.studio");
        assert_eq!(name, "org.avatarium.studio.SingleInstance");
        assert_eq!(object_path(&name), "/org/avatarium/studio/SingleInstance");
        assert_eq!(object_path("a.b-c.SingleInstance"), "/a/b_c/SingleInstance");
    }

    #[test]
    fn the_identifier_is_the_configs() {
        let conf: serde_json::Value =
            serde_json::from_str(include_str!("../tauri.conf.json")).unwrap();
        assert_eq!(conf["identifier"], "org.avatarium.studio");
    }
}

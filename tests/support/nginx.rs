//! A real nginx in front of the emulator (Debian's nginx-light: CI installs it; the tests that
//! need it skip without it), for doctor's proxy checks. One process (`master_process off`), on a
//! free loopback port, in a temporary prefix, killed when dropped.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx; `conf` is its server block alone, as a user would paste it.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// nginx proxying everything to `upstream`, with `websocket_directives` in the `/websocket`
/// location.
pub fn start(upstream: &str, websocket_directives: &str) -> Option<Nginx> {
    let server = format!(
        "server {{\n    listen {{listen}};\n    location /websocket {{\n        proxy_pass http://{{upstream}};\n        {websocket_directives}\n    }}\n    location / {{\n        proxy_pass http://{{upstream}};\n    }}\n}}\n"
    );
    start_server(upstream, &server)
}

/// nginx with `server` (its `{listen}` and `{upstream}` filled in) as its only server block.
pub fn start_server(upstream: &str, server: &str) -> Option<Nginx> {
    let bin = binary()?;
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = dir.path().display();
    std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
    let server = server
        .replace("{listen}", &format!("127.0.0.1:{port}"))
        .replace("{upstream}", upstream.trim_start_matches("http://"));
    let site = dir.path().join("site.conf");
    std::fs::write(&site, &server).unwrap();
    let conf = format!(
        "master_process off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\nevents {{ worker_connections 64; }}\nhttp {{\n    access_log off;\n    client_body_temp_path {p}/tmp/body;\n    proxy_temp_path {p}/tmp/proxy;\n    fastcgi_temp_path {p}/tmp/fastcgi;\n    uwsgi_temp_path {p}/tmp/uwsgi;\n    scgi_temp_path {p}/tmp/scgi;\n    include {};\n}}\n",
        site.display()
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut nginx = Nginx {
        child,
        port,
        conf: site,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited at start ({status}): check its config");
        }
        assert!(Instant::now() < deadline, "nginx did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(nginx)
}

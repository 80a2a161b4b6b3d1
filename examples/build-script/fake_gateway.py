"""A local stand-in for Motorweb's gateway, for CI: a token only for credentials in the form
body (as Motorweb takes them), and the vehicles for that token. Prints its port, then serves
until killed. Loopback only."""
import http.server, json, sys, urllib.parse

class Gateway(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
        ok = self.path == "/auth/v1/token" and form.get("client_id") == ["id"] \
            and form.get("client_secret") == ["s3cr3t"] and "authorization" not in self.headers
        if ok:
            self.answer(200, {"access_token": "GATEWAY-TOKEN", "token_type": "Bearer", "expires_in": 3599})
        else:
            self.answer(401, {"error": "invalid_client"})

    def do_GET(self):
        if self.headers.get("authorization") == "Bearer GATEWAY-TOKEN":
            self.answer(200, {"vehicles": ["ABC123"], "source": "gateway"})
        else:
            self.answer(401, {"error": "invalid_token"})

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Gateway)
print(server.server_address[1], flush=True)
server.serve_forever()

package org.dlock.client;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.SocketChannel;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * One connection to one server, one request at a time. It is made on a
 * SocketChannel so that interrupting the calling thread closes it: the
 * server then learns the caller went away (a blocking acquire given up).
 */
final class Conn implements AutoCloseable {
    final String addr;
    private final Socket sock;
    private final InputStream in;
    private final OutputStream out;

    Conn(String addr, int connectTimeoutMs, SSLContext tls, String user, String password)
            throws IOException {
        this.addr = addr;
        String[] hp = DlockClient.splitAddr(addr);
        SocketChannel ch = SocketChannel.open();
        Socket s = ch.socket();
        try {
            s.connect(new InetSocketAddress(hp[0], Integer.parseInt(hp[1])), connectTimeoutMs);
            s.setTcpNoDelay(true);
            if (tls != null) {
                SSLSocket ssl = (SSLSocket) tls.getSocketFactory().createSocket(s, hp[0],
                        Integer.parseInt(hp[1]), true);
                SSLParameters p = ssl.getSSLParameters();
                p.setEndpointIdentificationAlgorithm("HTTPS");
                ssl.setSSLParameters(p);
                ssl.setSoTimeout(connectTimeoutMs);
                ssl.startHandshake();
                s = ssl;
            }
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        this.sock = s;
        this.in = new BufferedInputStream(s.getInputStream(), 65536);
        this.out = s.getOutputStream();
        if (password != null) {
            Object r = call(user != null ? List.of("AUTH", user, password) : List.of("AUTH", password),
                    connectTimeoutMs);
            if (r instanceof Resp.ErrorReply) {
                close();
                throw new DlockException.AuthException(((Resp.ErrorReply) r).message);
            }
        }
    }

    /**
     * Sends one request and reads its reply (an ErrorReply for an error).
     * IOException when the connection fails or no answer comes in time: the
     * connection is then closed, and the request's outcome unknown.
     */
    Object call(List<?> args, int timeoutMs) throws IOException {
        try {
            sock.setSoTimeout(Math.max(1, timeoutMs));
            out.write(Resp.encode(args));
            out.flush();
            return Resp.read(in);
        } catch (IOException | RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    @Override
    public void close() {
        try {
            sock.close();
        } catch (IOException e) {
            // closed already
        }
    }
}

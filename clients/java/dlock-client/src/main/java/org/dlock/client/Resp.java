package org.dlock.client;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** RESP2, the Redis protocol, as dlockd speaks it: requests out, replies in. */
final class Resp {
    private Resp() {}

    /** An error reply: its code word (HELD, LEADER, ...) and its text. */
    static final class ErrorReply {
        final String message;

        ErrorReply(String message) {
            this.message = message;
        }

        String code() {
            int sp = message.indexOf(' ');
            return sp < 0 ? message : message.substring(0, sp);
        }
    }

    static byte[] encode(List<?> args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        write(out, "*" + args.size() + "\r\n");
        for (Object a : args) {
            byte[] b = a instanceof byte[] ? (byte[]) a : String.valueOf(a).getBytes(StandardCharsets.UTF_8);
            write(out, "$" + b.length + "\r\n");
            out.write(b, 0, b.length);
            write(out, "\r\n");
        }
        return out.toByteArray();
    }

    private static void write(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        out.write(b, 0, b.length);
    }

    /** Reads one reply: String, Long, byte[] (bulk), null, List, or ErrorReply. */
    static Object read(InputStream in) throws IOException {
        int t = in.read();
        if (t < 0) {
            throw new EOFException("the server closed the connection");
        }
        String line = line(in);
        switch (t) {
            case '+':
                return line;
            case '-':
                return new ErrorReply(line);
            case ':':
                return Long.parseLong(line);
            case '$': {
                int n = Integer.parseInt(line);
                if (n < 0) {
                    return null;
                }
                byte[] b = in.readNBytes(n);
                if (b.length < n || in.read() != '\r' || in.read() != '\n') {
                    throw new EOFException("a bulk string cut short");
                }
                return b;
            }
            case '*': {
                int n = Integer.parseInt(line);
                if (n < 0) {
                    return null;
                }
                List<Object> items = new ArrayList<>(Math.min(n, 1024));
                for (int i = 0; i < n; i++) {
                    items.add(read(in));
                }
                return items;
            }
            default:
                throw new IOException("a reply RESP does not allow (type byte " + t + ")");
        }
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new EOFException("the server closed the connection");
            }
            if (c == '\r') {
                if (in.read() != '\n') {
                    throw new IOException("a reply line not ended by CRLF");
                }
                return sb.toString();
            }
            if (sb.length() > 65536) {
                throw new IOException("a reply line too long");
            }
            sb.append((char) c);
        }
    }
}

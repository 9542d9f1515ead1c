import test from 'ava';
import { noProxyMatches, proxyFor } from '../../src/git/proxy-env.js';

// curl's rules (lib/noproxy.c), one line a case, plus a port after a name.
const noProxy = test.macro({
  exec(t, list: string, host: string, port: number, expected: boolean) {
    t.is(noProxyMatches(list, host, port), expected);
  },
  title: (_, list, host, port, expected) => `no_proxy=${JSON.stringify(list)} ${expected ? 'covers' : 'does not cover'} ${host}:${port}`,
});

test(noProxy, '*', 'git.example.com', 443, true);
test(noProxy, '', 'git.example.com', 443, false);
test(noProxy, 'example.com', 'example.com', 443, true);
test(noProxy, 'example.com', 'git.example.com', 443, true);
test(noProxy, 'example.com', 'notexample.com', 443, false);
test(noProxy, '.example.com', 'example.com', 443, true);
test(noProxy, '.example.com', 'git.example.com', 443, true);
test(noProxy, 'EXAMPLE.com.', 'Git.Example.COM', 443, true);
test(noProxy, 'example.com', 'git.example.com.', 443, true);
test(noProxy, 'other.org, example.com', 'git.example.com', 443, true);
test(noProxy, 'other.org\texample.com', 'git.example.com', 443, true);
test(noProxy, 'other.org,,example.com', 'git.example.com', 443, true);
test(noProxy, 'git.example.com', 'example.com', 443, false);
test(noProxy, '*.example.com', 'git.example.com', 443, false);
test(noProxy, 'a,*', 'git.example.com', 443, false);
test(noProxy, 'example.com:8443', 'git.example.com', 8443, true);
test(noProxy, 'example.com:8443', 'git.example.com', 443, false);
test(noProxy, '10.0.0.1', '10.0.0.1', 443, true);
test(noProxy, '10.0.0.0/8', '10.1.2.3', 443, true);
test(noProxy, '10.0.0.0/8', '11.1.2.3', 443, false);
test(noProxy, '10.0.0.1', '10.0.0.10', 443, false);
test(noProxy, '0.0.1', '10.0.0.1', 443, false);
test(noProxy, 'fd00::/8', 'fd12::1', 443, true);
test(noProxy, 'fd00::/8', 'fe80::1', 443, false);
test(noProxy, '::1', '::1', 443, true);
test(noProxy, '[::1]:443', '::1', 443, true);
test(noProxy, '[::1]:443', '::1', 8443, false);
test(noProxy, '::ffff:10.0.0.0/104', '::ffff:10.1.2.3', 443, true);
test(noProxy, 'localhost', '127.0.0.1', 443, false);

test('the variables: lower case first, then upper case, then all_proxy; http and https apart; no scheme is http://', (t) => {
  const at = (url: string, env: Record<string, string>): string | null => {
    const c = proxyFor(url, env);
    return c === null ? null : `${c.url.href} ${c.variable}`;
  };
  t.is(at('https://git.example.com/fw.git', {}), null);
  t.is(at('https://git.example.com/fw.git', { https_proxy: 'http://a:3128', HTTPS_PROXY: 'http://b:3128' }), 'http://a:3128/ https_proxy');
  t.is(at('https://git.example.com/fw.git', { HTTPS_PROXY: 'b:3128' }), 'http://b:3128/ HTTPS_PROXY');
  t.is(at('https://git.example.com/fw.git', { http_proxy: 'http://a:3128' }), null);
  t.is(at('http://git.example.com/fw.git', { HTTP_PROXY: 'http://a:3128' }), 'http://a:3128/ HTTP_PROXY');
  t.is(at('https://git.example.com/fw.git', { all_proxy: 'https://c:443' }), 'https://c/ all_proxy');
  t.is(at('https://git.example.com/fw.git', { https_proxy: 'http://a:3128', NO_PROXY: 'example.com' }), null);
  t.is(at('https://[fd00::5]:8443/fw.git', { https_proxy: 'http://a:3128', no_proxy: 'fd00::/16' }), null);
  t.is(at('https://git.example.com/fw.git', { https_proxy: ' ', no_proxy: '' }), null);
});

test('a proxy variable that is not an http(s) URL is a usage error naming the variable, never its value', (t) => {
  t.throws(() => proxyFor('https://git.example.com/', { https_proxy: 'socks5://u:s3cret@a:1080' }), {
    message: "https_proxy in nfgit's environment names a socks5 proxy: nfgit reaches git servers through http:// or https:// proxies only",
  });
  t.throws(() => proxyFor('https://git.example.com/', { HTTPS_PROXY: 'http://u:s3cret@[bad' }), {
    message: "HTTPS_PROXY in nfgit's environment is not a URL: give the proxy as http://HOST:PORT",
  });
});

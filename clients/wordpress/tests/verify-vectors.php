<?php
/**
 * Checks the plugin's PHP signing against the shared test vectors.
 *
 * Usage: php verify-vectors.php [path/to/test-vectors.json]
 * Prints one line per vector and exits 1 on any mismatch.
 *
 * @package LoginSvc_SSO
 */

// phpcs:disable WordPress.WP.AlternativeFunctions, WordPress.Security.EscapeOutput -- a CLI script.

require dirname( __DIR__ ) . '/loginsvc-sso/includes/class-loginsvc-client.php';

$vectors_file = isset( $argv[1] ) ? $argv[1] : dirname( __DIR__ ) . '/test-vectors.json';
$vectors_data = json_decode( (string) file_get_contents( $vectors_file ), true );
if ( ! is_array( $vectors_data ) || empty( $vectors_data['vectors'] ) ) {
	fwrite( STDERR, "no vectors in $vectors_file\n" );
	exit( 2 );
}
$failures = 0;
foreach ( $vectors_data['vectors'] as $v ) {
	$got = LoginSvc_Client::sign( $v['secret'], $v['id'], (int) $v['timestamp'], $v['body'] );
	$ok  = hash_equals( $v['signature'], $got );
	echo ( $ok ? 'ok   ' : 'FAIL ' ) . $v['id'] . ' ' . $got . "\n";
	$failures += $ok ? 0 : 1;
}
foreach ( array( 'nope', 'whsec_', 'whsec_***' ) as $bad ) {
	if ( LoginSvc_Client::is_valid_secret( $bad ) ) {
		echo "FAIL secret '$bad' accepted\n";
		++$failures;
	}
}
echo $failures ? "$failures failure(s)\n" : "all vectors match\n";
exit( $failures ? 1 : 0 );

<?php
/**
 * Drives the plugin's client against a running service, for the tests.
 *
 * Usage: php sso-cli.php SERVICE_URL SECRET login EMAIL WP_USER_ID [NAME] [NEXT]
 *        php sso-cli.php SERVICE_URL SECRET logout WP_USER_ID
 * Prints one JSON line: {"ok": true, ...} or {"ok": false, "code": ..., "status": ..., "message": ...}.
 *
 * @package LoginSvc_SSO
 */

// phpcs:disable WordPress.WP.AlternativeFunctions, WordPress.Security.EscapeOutput -- a CLI script.

require dirname( __DIR__ ) . '/loginsvc-sso/includes/class-loginsvc-client.php';

if ( $argc < 5 ) {
	fwrite( STDERR, "usage: php sso-cli.php URL SECRET login EMAIL ID [NAME] [NEXT] | logout ID\n" );
	exit( 2 );
}
$client = new LoginSvc_Client( $argv[1], $argv[2] );
try {
	if ( 'login' === $argv[3] ) {
		$ticket = $client->request_ticket( $argv[4], $argv[5], isset( $argv[6] ) ? $argv[6] : null, isset( $argv[7] ) ? $argv[7] : null );
		echo json_encode( array( 'ok' => true ) + $ticket ) . "\n";
	} elseif ( 'logout' === $argv[3] ) {
		$client->logout( $argv[4] );
		echo json_encode( array( 'ok' => true ) ) . "\n";
	} else {
		fwrite( STDERR, "unknown command {$argv[3]}\n" );
		exit( 2 );
	}
} catch ( LoginSvc_Client_Exception $e ) {
	echo json_encode(
		array(
			'ok'      => false,
			'code'    => $e->error_code,
			'status'  => $e->status,
			'message' => $e->getMessage(),
		)
	) . "\n";
}

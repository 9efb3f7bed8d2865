<?php
/**
 * Installs a throw-away WordPress for the end-to-end test and activates the plugin.
 *
 * Usage: php install-wordpress.php DOCROOT SERVICE_URL SECRET LOGIN PASSWORD EMAIL NAME [ROLE]
 * DOCROOT holds a copy of Debian's /usr/share/wordpress with the test's wp-config.php.
 * Prints {"user_id": N}.
 *
 * @package LoginSvc_SSO
 */

// phpcs:disable WordPress.WP.AlternativeFunctions, WordPress.Security.EscapeOutput -- a CLI script.

if ( $argc < 8 ) {
	fwrite( STDERR, "usage: php install-wordpress.php DOCROOT SERVICE_URL SECRET LOGIN PASSWORD EMAIL NAME [ROLE]\n" );
	exit( 2 );
}
list( , $docroot, $service_url, $secret, $login, $password, $email, $display_name ) = $argv;
$role = $argc > 8 ? $argv[8] : 'subscriber';

define( 'WP_INSTALLING', true );
$_SERVER['HTTP_HOST']   = 'localhost';
$_SERVER['REQUEST_URI'] = '/';
require $docroot . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

$installed = wp_install( 'loginsvc test blog', 'admin', 'admin@blog.test', false, '', wp_generate_password( 24 ) );
$user_id   = wp_insert_user(
	array(
		'user_login'   => $login,
		'user_pass'    => $password,
		'user_email'   => $email,
		'display_name' => $display_name,
		'role'         => $role,
	)
);
if ( is_wp_error( $user_id ) ) {
	fwrite( STDERR, $user_id->get_error_message() . "\n" );
	exit( 1 );
}
update_option( 'active_plugins', array( 'loginsvc-sso/loginsvc-sso.php' ) );
update_option( 'loginsvc_sso_service_url', $service_url );
update_option( 'loginsvc_sso_secret', $secret );
echo json_encode( array( 'user_id' => $user_id ) ) . "\n";

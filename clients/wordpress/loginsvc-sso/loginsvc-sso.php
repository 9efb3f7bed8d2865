<?php
/**
 * Plugin Name:       loginsvc single sign-on
 * Description:       Signs WordPress users in to the shop's customer accounts (loginsvc) when they log in, and out when they log out.
 * Version:           1.0.0
 * Requires at least: 5.5
 * Requires PHP:      7.4
 * License:           MIT
 * Text Domain:       loginsvc-sso
 *
 * @package LoginSvc_SSO
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

define( 'LOGINSVC_SSO_VERSION', '1.0.0' );

require_once __DIR__ . '/includes/class-loginsvc-client.php';
require_once __DIR__ . '/includes/class-loginsvc-sso-settings.php';
require_once __DIR__ . '/includes/class-loginsvc-sso.php';

LoginSvc_SSO_Settings::register();
LoginSvc_SSO::register();

/**
 * The URL that signs the current WordPress user in to the shop and opens $next
 * there (a theme's "My account" link). Logged-out visitors log in to WordPress first.
 *
 * @param string $next Where to go at the shop afterwards, e.g. "/account" (optional).
 * @return string
 */
function loginsvc_sso_sign_in_url( $next = '' ) {
	$args = array( 'action' => LoginSvc_SSO::ACTION );
	if ( '' !== $next ) {
		$args['next'] = rawurlencode( $next );
	}
	return add_query_arg( $args, admin_url( 'admin-post.php' ) );
}

/**
 * Print the "Sign in to the shop" button (the shortcode's output) from a theme.
 *
 * @param array $args label, next.
 * @return void
 */
function loginsvc_sso_button( $args = array() ) {
	echo LoginSvc_SSO::shortcode( $args ); // phpcs:ignore WordPress.Security.EscapeOutput.OutputNotEscaped -- escaped in shortcode().
}
